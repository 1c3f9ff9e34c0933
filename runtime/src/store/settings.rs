//! Application settings changed through the Platform API (`guest_users`), kept with the app's
//! data so they survive restarts. A value stored here wins over chatfn.toml until the
//! API (or `chatfn apply`) changes it again; `serve` warns when the two differ.

use crate::config::GuestUsers;

use super::error::StoreError;

const GUEST_USERS: &[u8] = b"guest_users";

#[derive(Clone)]
pub struct SettingsStore {
    space: super::Space,
    tree: sled::Tree,
}

impl SettingsStore {
    pub fn open(space: &super::Space) -> Result<SettingsStore, StoreError> {
        Ok(SettingsStore { space: space.clone(), tree: space.tree("settings")? })
    }

    pub fn guest_users(&self) -> Result<Option<GuestUsers>, StoreError> {
        Ok(match self.tree.get(GUEST_USERS)? {
            Some(bytes) => Some(serde_json::from_slice(&bytes)?),
            None => None,
        })
    }

    pub async fn set_guest_users(&self, value: GuestUsers) -> Result<(), StoreError> {
        self.tree.insert(GUEST_USERS, serde_json::to_vec(&value)?)?;
        self.space.flush().await
    }
}
