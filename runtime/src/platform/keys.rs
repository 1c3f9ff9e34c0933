//! Platform API credentials, as ChatKitty hands them out: an OAuth2 client id and secret per
//! app (`chatfn keys create`), exchanged at `POST /oauth/token` for short-lived bearer tokens.
//!
//! With sled, keys live in `<data>/<app>/platform-keys.json`, outside the app's sled database
//! so the CLI can add or revoke one while the server runs, and tokens live in memory: a restart
//! signs every client out. With PostgreSQL, both live in the database (`chatfn_platform_keys`,
//! `chatfn_platform_tokens`), so a token one node issued works on every node. Only a SHA-256
//! of each secret and token is stored (they are 256 random bits, so a slow password hash would
//! add nothing). Revoking a key ends its tokens at once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::hex::hex;
use crate::store::postgres::{error, Database};
use crate::store::StoreError;

/// How long a bearer token is good for (ChatKitty's tokens also last about an hour).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredKey {
    pub client_id: String,
    /// Hex SHA-256 of the client secret.
    pub(crate) secret_sha256: String,
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

/// An app's credentials, in its key file or in the shared database.
#[derive(Clone)]
pub enum Keys {
    File(KeyFile),
    Postgres { db: Database, app: String },
}

impl Keys {
    /// Makes a new key; answers the client id and the secret (shown once, never stored).
    pub async fn create(&self) -> anyhow::Result<(String, String)> {
        let (db, app) = match self {
            Keys::File(file) => return file.create(),
            Keys::Postgres { db, app } => (db, app),
        };
        let client_id = format!("chatfn-{}", hex(&random::<8>()));
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>());
        let row = (
            client_id.clone(),
            app.clone(),
            hex(&Sha256::digest(secret.as_bytes())),
            crate::time::now_rfc3339(),
        );
        db.run(move |c| async move {
            c.execute(
                "INSERT INTO chatfn_platform_keys (client_id, app, secret_sha256, created_time)
                 VALUES ($1, $2, $3, $4)",
                &[&row.0, &row.1, &row.2, &row.3],
            )
            .await
            .map_err(error)
        })
        .await?;
        Ok((client_id, secret))
    }

    pub async fn list(&self) -> anyhow::Result<Vec<StoredKey>> {
        match self {
            Keys::File(file) => file.list(),
            Keys::Postgres { db, app } => {
                let app = app.clone();
                let rows = db
                    .run(move |c| async move {
                        c.query(
                            "SELECT client_id, secret_sha256, created_time FROM chatfn_platform_keys
                             WHERE app = $1 ORDER BY created_time, client_id",
                            &[&app],
                        )
                        .await
                        .map_err(error)
                    })
                    .await?;
                Ok(rows
                    .iter()
                    .map(|r| StoredKey {
                        client_id: r.get(0),
                        secret_sha256: r.get(1),
                        created_time: r.get(2),
                    })
                    .collect())
            }
        }
    }

    /// Stores keys as they are (their secrets' hashes included): `chatfn store copy`. A client
    /// id already there is a conflict.
    pub async fn import(&self, keys: &[StoredKey]) -> anyhow::Result<()> {
        let existing: Vec<String> = self.list().await?.into_iter().map(|k| k.client_id).collect();
        if let Some(k) = keys.iter().find(|k| existing.contains(&k.client_id)) {
            anyhow::bail!("key {} is already there", k.client_id);
        }
        match self {
            Keys::File(file) => {
                let mut contents = file.read()?;
                contents.keys.extend(keys.iter().cloned());
                file.write(&contents)
            }
            Keys::Postgres { db, app } => {
                let (keys, app) = (keys.to_vec(), app.clone());
                db.run(move |mut c| async move {
                    let tx = c.transaction().await.map_err(error)?;
                    for k in &keys {
                        tx.execute(
                            "INSERT INTO chatfn_platform_keys (client_id, app, secret_sha256, created_time)
                             VALUES ($1, $2, $3, $4)",
                            &[&k.client_id, &app, &k.secret_sha256, &k.created_time],
                        )
                        .await
                        .map_err(error)?;
                    }
                    tx.commit().await.map_err(error)
                })
                .await?;
                Ok(())
            }
        }
    }

    /// Whether a key with this id existed (and is now gone, with its tokens).
    pub async fn revoke(&self, client_id: &str) -> anyhow::Result<bool> {
        match self {
            Keys::File(file) => file.revoke(client_id),
            Keys::Postgres { db, app } => {
                let (app, client_id) = (app.clone(), client_id.to_string());
                let removed = db
                    .run(move |c| async move {
                        c.execute(
                            "DELETE FROM chatfn_platform_keys WHERE app = $1 AND client_id = $2",
                            &[&app, &client_id],
                        )
                        .await
                        .map_err(error)
                    })
                    .await?;
                Ok(removed > 0)
            }
        }
    }

    /// Whether `client_id` is a key of this app, and `secret` its secret.
    pub async fn verify(&self, client_id: &str, secret: &str) -> Result<bool, StoreError> {
        match self {
            Keys::File(file) => Ok(file.verify(client_id, secret)),
            Keys::Postgres { db, app } => {
                Ok(owner(db, client_id, secret).await?.is_some_and(|owner| &owner == app))
            }
        }
    }
}

/// The app that key `client_id` of the database belongs to, when `secret` is its secret.
pub async fn owner(
    db: &Database,
    client_id: &str,
    secret: &str,
) -> Result<Option<String>, StoreError> {
    let digest = hex(&Sha256::digest(secret.as_bytes()));
    let client_id = client_id.to_string();
    db.run(move |c| async move {
        let row = c
            .query_opt(
                "SELECT app FROM chatfn_platform_keys WHERE client_id = $1 AND secret_sha256 = $2",
                &[&client_id, &digest],
            )
            .await
            .map_err(error)?;
        Ok(row.map(|r| r.get(0)))
    })
    .await
}

/// Who a bearer token was issued to.
#[derive(Debug, Clone)]
pub struct Grant {
    pub app: String,
    pub client_id: String,
}

/// Issued bearer tokens: in this process's memory (each kept with its expiry), or in the
/// shared database.
pub enum Tokens {
    Memory(Mutex<HashMap<String, (Grant, Instant)>>),
    Postgres(Database),
}

impl Tokens {
    pub async fn issue(&self, app: &str, client_id: &str) -> Result<String, StoreError> {
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::<32>());
        let grant = Grant { app: app.to_string(), client_id: client_id.to_string() };
        match self {
            Tokens::Memory(issued) => {
                let now = Instant::now();
                let mut issued = issued.lock().unwrap();
                issued.retain(|_, (_, expires)| *expires > now);
                issued.insert(token.clone(), (grant, now + TOKEN_LIFETIME));
            }
            Tokens::Postgres(db) => {
                let digest = hex(&Sha256::digest(token.as_bytes()));
                let now = crate::time::now_ms() as i64;
                let expires = now + TOKEN_LIFETIME.as_millis() as i64;
                db.run(move |c| async move {
                    // Expired tokens go as new ones come.
                    c.execute("DELETE FROM chatfn_platform_tokens WHERE expires_ms < $1", &[&now])
                        .await
                        .map_err(error)?;
                    c.execute(
                        "INSERT INTO chatfn_platform_tokens (token_sha256, client_id, expires_ms)
                         VALUES ($1, $2, $3)",
                        &[&digest, &grant.client_id, &expires],
                    )
                    .await
                    .map_err(error)
                })
                .await?;
            }
        }
        Ok(token)
    }

    /// The grant behind a live token (not expired, its key not revoked).
    /// The grant behind a live token. (With keys in files, the caller checks that the key
    /// is still there.)
    pub async fn check(&self, token: &str) -> Result<Option<Grant>, StoreError> {
        match self {
            Tokens::Memory(issued) => Ok(issued
                .lock()
                .unwrap()
                .get(token)
                .filter(|(_, expires)| *expires > Instant::now())
                .map(|(grant, _)| grant.clone())),
            Tokens::Postgres(db) => {
                let digest = hex(&Sha256::digest(token.as_bytes()));
                let now = crate::time::now_ms() as i64;
                db.run(move |c| async move {
                    // A revoked key's tokens went with it (ON DELETE CASCADE).
                    let row = c
                        .query_opt(
                            "SELECT k.app, k.client_id FROM chatfn_platform_tokens t
                             JOIN chatfn_platform_keys k ON k.client_id = t.client_id
                             WHERE t.token_sha256 = $1 AND t.expires_ms > $2",
                            &[&digest, &now],
                        )
                        .await
                        .map_err(error)?;
                    Ok(row.map(|r| Grant { app: r.get(0), client_id: r.get(1) }))
                })
                .await
            }
        }
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
