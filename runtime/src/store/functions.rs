//! What an app runs, as saved through the Platform API or taken from its directory: the
//! Node.js runtime (dependencies, initialization script, environment variables), one function
//! per trigger, and each function's immutable versions, one of which is current.
//!
//! `applied` remembers a digest of what was last taken from the app directory for each item,
//! so a restart picks up a file that changed and keeps API changes to files that did not:
//! the newest change wins, whichever side it came from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use super::error::{StoreError, Subject};
use crate::time::now_rfc3339;

const NEXT_FUNCTION_ID: &[u8] = b"next_function_id";
const NEXT_VERSION_ID: &[u8] = b"next_version_id";
const RUNTIME_KEY: &[u8] = b"nodejs";

/// A script and the file (relative to the app directory) it runs as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    pub file: String,
    pub script: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeRecord {
    pub dependencies: BTreeMap<String, String>,
    pub initialization_script: Option<Script>,
    pub environment: BTreeMap<String, String>,
    /// Bumped on every change.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionRecord {
    pub id: u64,
    /// The trigger, e.g. `user.attempted.start_session`.
    pub trigger: String,
    pub name: String,
    pub description: Option<String>,
    pub enabled: bool,
    /// 0 until a version is saved.
    pub current_version_number: u64,
    /// A saved version that runs in shadow on live attempts (recorded, compared, never acted on).
    #[serde(default)]
    pub shadow_version_number: Option<u64>,
    pub created_time: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionRecord {
    pub id: u64,
    pub function_id: u64,
    pub version_number: u64,
    pub handler_script: String,
    /// The file the code runs as, relative to the app directory.
    pub file: String,
    pub created_time: String,
}

#[derive(Clone)]
pub struct FunctionsStore {
    space: super::Space,
    runtime: sled::Tree,
    functions: sled::Tree,
    versions: sled::Tree,
    meta: sled::Tree,
    applied: sled::Tree,
}

fn id_key(id: u64) -> [u8; 8] {
    id.to_be_bytes()
}

fn next_id(
    meta: &sled::transaction::TransactionalTree,
    key: &[u8],
) -> Result<u64, sled::transaction::UnabortableTransactionError> {
    let id = match meta.get(key)? {
        Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])).max(1),
        None => 1,
    };
    meta.insert(key, &(id + 1).to_be_bytes())?;
    Ok(id)
}

impl FunctionsStore {
    pub fn open(space: &super::Space) -> Result<FunctionsStore, StoreError> {
        Ok(FunctionsStore {
            space: space.clone(),
            runtime: space.tree("runtime")?,
            functions: space.tree("functions")?,
            versions: space.tree("function_versions")?,
            meta: space.tree("functions_meta")?,
            applied: space.tree("applied_from_directory")?,
        })
    }

    pub async fn flush(&self) -> Result<(), StoreError> {
        self.space.flush().await
    }

    pub fn runtime(&self) -> Result<RuntimeRecord, StoreError> {
        Ok(match self.runtime.get(RUNTIME_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => RuntimeRecord::default(),
        })
    }

    /// Saves `change` applied to the current runtime; answers the new record.
    pub async fn update_runtime(
        &self,
        change: impl FnOnce(&mut RuntimeRecord),
    ) -> Result<RuntimeRecord, StoreError> {
        let mut runtime = self.runtime()?;
        change(&mut runtime);
        runtime.version += 1;
        self.runtime.insert(RUNTIME_KEY, serde_json::to_vec(&runtime)?)?;
        self.flush().await?;
        Ok(runtime)
    }

    pub fn functions(&self) -> Result<Vec<FunctionRecord>, StoreError> {
        self.functions.iter().values().map(|v| Ok(serde_json::from_slice(&v?)?)).collect()
    }

    pub fn function(&self, id: u64) -> Result<Option<FunctionRecord>, StoreError> {
        Ok(match self.functions.get(id_key(id))? {
            Some(bytes) => Some(serde_json::from_slice(&bytes)?),
            None => None,
        })
    }

    pub fn function_for(&self, trigger: &str) -> Result<Option<FunctionRecord>, StoreError> {
        Ok(self.functions()?.into_iter().find(|f| f.trigger == trigger))
    }

    /// A new function for `trigger`, without versions; a trigger has one function at most.
    pub async fn create_function(
        &self,
        trigger: &str,
        name: &str,
        description: Option<String>,
    ) -> Result<FunctionRecord, StoreError> {
        let result = (&self.functions, &self.meta).transaction(|(functions, meta)| {
            let by_trigger = format!("trigger/{trigger}");
            if meta.get(by_trigger.as_bytes())?.is_some() {
                return Err(ConflictableTransactionError::Abort(StoreError::Conflict(format!(
                    "a function for {trigger} already exists"
                ))));
            }
            let record = FunctionRecord {
                id: next_id(meta, NEXT_FUNCTION_ID)?,
                trigger: trigger.to_string(),
                name: name.to_string(),
                description: description.clone(),
                enabled: true,
                current_version_number: 0,
                shadow_version_number: None,
                created_time: now_rfc3339(),
            };
            functions.insert(
                &id_key(record.id),
                serde_json::to_vec(&record).expect("a record serializes"),
            )?;
            meta.insert(by_trigger.as_bytes(), &id_key(record.id))?;
            Ok(record)
        });
        let record = unwrap_transaction(result)?;
        self.flush().await?;
        Ok(record)
    }

    /// Deletes a function and its versions (its invocation records stay); answers what it was.
    pub async fn delete_function(&self, id: u64) -> Result<FunctionRecord, StoreError> {
        let result = (&self.functions, &self.meta).transaction(|(functions, meta)| {
            let Some(bytes) = functions.remove(&id_key(id))? else {
                return Err(ConflictableTransactionError::Abort(StoreError::NotFound(
                    Subject::Function(id),
                )));
            };
            let record: FunctionRecord = serde_json::from_slice(&bytes)
                .map_err(|e| ConflictableTransactionError::Abort(e.into()))?;
            meta.remove(format!("trigger/{}", record.trigger).as_bytes())?;
            Ok(record)
        });
        let record = unwrap_transaction(result)?;
        for version in self.versions(id)? {
            self.versions.remove(id_key(version.id))?;
        }
        // Taken from the directory again if it comes back there.
        self.applied.remove(format!("function.{}", record.trigger).as_bytes())?;
        self.flush().await?;
        Ok(record)
    }

    /// A function's versions, oldest first.
    pub fn versions(&self, function_id: u64) -> Result<Vec<VersionRecord>, StoreError> {
        let mut all = Vec::new();
        for value in self.versions.iter().values() {
            let version: VersionRecord = serde_json::from_slice(&value?)?;
            if version.function_id == function_id {
                all.push(version);
            }
        }
        Ok(all)
    }

    pub fn version(&self, id: u64) -> Result<Option<VersionRecord>, StoreError> {
        Ok(match self.versions.get(id_key(id))? {
            Some(bytes) => Some(serde_json::from_slice(&bytes)?),
            None => None,
        })
    }

    pub fn version_by_number(
        &self,
        function_id: u64,
        number: u64,
    ) -> Result<Option<VersionRecord>, StoreError> {
        Ok(self.versions(function_id)?.into_iter().find(|v| v.version_number == number))
    }

    /// Saves a new version of a function and makes it the current one.
    pub async fn add_version(
        &self,
        function_id: u64,
        handler_script: &str,
        file: &str,
    ) -> Result<VersionRecord, StoreError> {
        let result = (&self.functions, &self.versions, &self.meta).transaction(
            |(functions, versions, meta)| {
                let Some(bytes) = functions.get(id_key(function_id))? else {
                    return Err(ConflictableTransactionError::Abort(StoreError::NotFound(
                        Subject::Function(function_id),
                    )));
                };
                let mut function: FunctionRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| ConflictableTransactionError::Abort(StoreError::Corrupt(e)))?;
                let highest = meta
                    .get(format!("highest_version/{function_id}").as_bytes())?
                    .map(|v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])))
                    .unwrap_or(0);
                let version = VersionRecord {
                    id: next_id(meta, NEXT_VERSION_ID)?,
                    function_id,
                    version_number: highest + 1,
                    handler_script: handler_script.to_string(),
                    file: file.to_string(),
                    created_time: now_rfc3339(),
                };
                meta.insert(
                    format!("highest_version/{function_id}").as_bytes(),
                    &version.version_number.to_be_bytes(),
                )?;
                versions.insert(
                    &id_key(version.id),
                    serde_json::to_vec(&version).expect("a record serializes"),
                )?;
                function.current_version_number = version.version_number;
                functions.insert(
                    &id_key(function_id),
                    serde_json::to_vec(&function).expect("a record serializes"),
                )?;
                Ok(version)
            },
        );
        let version = unwrap_transaction(result)?;
        self.flush().await?;
        Ok(version)
    }

    /// Makes an existing version the current one (a rollback, or a roll forward).
    pub async fn activate(
        &self,
        function_id: u64,
        version_number: u64,
    ) -> Result<FunctionRecord, StoreError> {
        self.point_at(function_id, Some(version_number), |f| {
            f.current_version_number = version_number
        })
        .await
    }

    /// Runs `version_number` in shadow (or nothing, for `None`).
    pub async fn set_shadow(
        &self,
        function_id: u64,
        version_number: Option<u64>,
    ) -> Result<FunctionRecord, StoreError> {
        self.point_at(function_id, version_number, |f| f.shadow_version_number = version_number)
            .await
    }

    /// Saves `change` to a function after checking that `version_number` (if any) exists.
    async fn point_at(
        &self,
        function_id: u64,
        version_number: Option<u64>,
        change: impl FnOnce(&mut FunctionRecord),
    ) -> Result<FunctionRecord, StoreError> {
        if let Some(number) = version_number {
            if self.version_by_number(function_id, number)?.is_none() {
                return Err(StoreError::NotFound(Subject::Version {
                    function: function_id,
                    number,
                }));
            }
        }
        let mut function = self
            .function(function_id)?
            .ok_or_else(|| StoreError::NotFound(Subject::Function(function_id)))?;
        change(&mut function);
        self.functions.insert(id_key(function_id), serde_json::to_vec(&function)?)?;
        self.flush().await?;
        Ok(function)
    }

    /// The digest of what was last taken from the app directory for `item`.
    pub fn applied(&self, item: &str) -> Result<Option<String>, StoreError> {
        Ok(self.applied.get(item.as_bytes())?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn set_applied(&self, item: &str, digest: &str) -> Result<(), StoreError> {
        self.applied.insert(item.as_bytes(), digest.as_bytes())?;
        Ok(())
    }
}

fn unwrap_transaction<T>(result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(e)) => Err(e),
        Err(TransactionError::Storage(e)) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn versions_are_numbered_per_function_and_activation_switches_between_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = FunctionsStore::open(&super::super::Space::alone(dir.path())).unwrap();
        let f = store
            .create_function("user.attempted.start_session", "Start session", None)
            .await
            .unwrap();
        let twice =
            store.create_function("user.attempted.start_session", "again", None).await.unwrap_err();
        assert_eq!(twice.to_string(), "a function for user.attempted.start_session already exists");
        assert_eq!(f.current_version_number, 0);
        let v1 = store
            .add_version(f.id, "async function handleEvent() {}", "functions/a.js")
            .await
            .unwrap();
        let v2 = store
            .add_version(
                f.id,
                "async function handleEvent() { throw new Error('no') }",
                "functions/a.js",
            )
            .await
            .unwrap();
        assert_eq!((v1.version_number, v2.version_number), (1, 2));
        assert_eq!(store.function(f.id).unwrap().unwrap().current_version_number, 2);
        assert_eq!(store.activate(f.id, 1).await.unwrap().current_version_number, 1);
        let missing = store.activate(f.id, 7).await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound(Subject::Version { number: 7, .. })));
        assert_eq!(missing.to_string(), format!("version 7 of function {} not found", f.id));
        let v3 = store.add_version(f.id, "x", "functions/a.js").await.unwrap();
        assert_eq!(v3.version_number, 3, "numbers never repeat, also after a rollback");
        assert_eq!(store.versions(f.id).unwrap().len(), 3);
        assert_eq!(
            store.version(v2.id).unwrap().unwrap().handler_script,
            v2.handler_script,
            "versions are kept as saved"
        );
    }
}
