//! Platform API credentials, as ChatKitty hands them out: an OAuth2 client id and secret per
//! app (`chatfn keys create`), exchanged at `POST /oauth/token` for short-lived bearer tokens.
//!
//! Keys live in `<data>/<app>/platform-keys.json`, outside the app's sled database so the CLI
//! can add or revoke one while the server runs; only a SHA-256 of each secret is stored (the
//! secrets are 256 random bits, so a slow password hash would add nothing). Tokens live in
//! memory: a restart signs every client out, and revoking a key ends its tokens at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hex::hex;

/// How long a bearer token is good for (ChatKitty's tokens also last about an hour).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub client_id: String,
    /// Hex SHA-256 of the client secret.
    secret_sha256: String,
    pub created_time: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyFileContents {
    keys: Vec<StoredKey>,
}

/// The credentials file of one app.
#[derive(Debug, Clone)]
pub struct KeyFile {
    path: PathBuf,
}

impl KeyFile {
    /// The key file of the app whose data lives in `app_data`.
    pub fn in_dir(app_data: &Path) -> KeyFile {
        KeyFile { path: app_data.join("platform-keys.json") }
    }

    fn read(&self) -> anyhow::Result<KeyFileContents> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("{} is not a chatfn key file: {e}", self.path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeyFileContents::default()),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", self.path.display())),
        }
    }

    /// Written whole to a temporary file, then renamed over the old one.
    fn write(&self, contents: &KeyFileContents) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(contents)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        std::fs::rename(&tmp, &self.path)?;
        Ok(())
    }

    /// Makes a new key; answers the client id and the secret (shown once, never stored).
    pub fn create(&self) -> anyhow::Result<(String, String)> {
        let mut contents = self.read()?;
        let client_id = format!("chatfn-{}", hex(&random::<8>()));
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>());
        contents.keys.push(StoredKey {
            client_id: client_id.clone(),
            secret_sha256: hex(&Sha256::digest(secret.as_bytes())),
            created_time: crate::time::now_rfc3339(),
        });
        self.write(&contents)?;
        Ok((client_id, secret))
    }

    pub fn list(&self) -> anyhow::Result<Vec<StoredKey>> {
        Ok(self.read()?.keys)
    }

    /// Whether a key with this id existed (and is now gone).
    pub fn revoke(&self, client_id: &str) -> anyhow::Result<bool> {
        let mut contents = self.read()?;
        let before = contents.keys.len();
        contents.keys.retain(|k| k.client_id != client_id);
        if contents.keys.len() == before {
            return Ok(false);
        }
        self.write(&contents)?;
        Ok(true)
    }

    /// Whether `client_id` is a key of this app, and `secret` its secret.
    pub fn verify(&self, client_id: &str, secret: &str) -> bool {
        let digest = hex(&Sha256::digest(secret.as_bytes()));
        self.read()
            .map(|c| c.keys.iter().any(|k| k.client_id == client_id && k.secret_sha256 == digest))
            .unwrap_or(false)
    }

    pub fn contains(&self, client_id: &str) -> bool {
        self.read().map(|c| c.keys.iter().any(|k| k.client_id == client_id)).unwrap_or(false)
    }
}

/// Who a bearer token was issued to.
#[derive(Debug, Clone)]
pub struct Grant {
    pub app: String,
    pub client_id: String,
    expires: Instant,
}

/// Issued bearer tokens, by token.
#[derive(Default)]
pub struct Tokens {
    issued: Mutex<HashMap<String, Grant>>,
}

impl Tokens {
    pub fn issue(&self, app: &str, client_id: &str) -> String {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>());
        let now = Instant::now();
        let mut issued = self.issued.lock().unwrap();
        issued.retain(|_, g| g.expires > now);
        issued.insert(
            token.clone(),
            Grant {
                app: app.to_string(),
                client_id: client_id.to_string(),
                expires: now + TOKEN_LIFETIME,
            },
        );
        token
    }

    /// The grant behind a live token.
    pub fn check(&self, token: &str) -> Option<Grant> {
        let issued = self.issued.lock().unwrap();
        issued.get(token).filter(|g| g.expires > Instant::now()).cloned()
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the OS random source works");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_hashed_verified_and_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyFile::in_dir(dir.path());
        let (id, secret) = keys.create().unwrap();
        let stored = std::fs::read_to_string(dir.path().join("platform-keys.json")).unwrap();
        assert!(
            stored.contains(&id) && !stored.contains(&secret),
            "only a hash of the secret is stored: {stored}"
        );
        assert!(keys.verify(&id, &secret));
        assert!(!keys.verify(&id, "wrong"));
        assert!(!keys.verify("chatfn-other", &secret));
        let (other, _) = keys.create().unwrap();
        assert!(keys.revoke(&id).unwrap());
        assert!(!keys.revoke(&id).unwrap(), "already gone");
        assert!(!keys.verify(&id, &secret));
        assert_eq!(
            keys.list().unwrap().iter().map(|k| k.client_id.clone()).collect::<Vec<_>>(),
            vec![other]
        );
    }
}
