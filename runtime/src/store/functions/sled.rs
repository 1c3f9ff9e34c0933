//! What an app runs, in its sled database: trees `runtime`, `functions`, `function_versions`,
//! `functions_meta` (id counters, the function of each trigger, the highest version number of
//! each function) and `applied_from_directory`.

use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};

use std::collections::BTreeMap;

use super::{Everything, FunctionRecord, RuntimeRecord, VersionRecord};
use crate::store::error::{StoreError, Subject};
use crate::time::now_rfc3339;

const NEXT_FUNCTION_ID: &[u8] = b"next_function_id";
const NEXT_VERSION_ID: &[u8] = b"next_version_id";
const RUNTIME_KEY: &[u8] = b"nodejs";

#[derive(Clone)]
pub struct SledFunctions {
    space: crate::store::Space,
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

impl SledFunctions {
    pub fn open(space: &crate::store::Space) -> Result<SledFunctions, StoreError> {
        Ok(SledFunctions {
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

    /// Saves a changed function record.
    pub async fn save_function(&self, function: &FunctionRecord) -> Result<(), StoreError> {
        self.functions.insert(id_key(function.id), serde_json::to_vec(function)?)?;
        self.flush().await
    }

    /// Every item's digest of what was last taken from the app directory.
    pub fn applied_all(&self) -> Result<BTreeMap<String, String>, StoreError> {
        self.applied
            .iter()
            .map(|entry| {
                let (k, v) = entry?;
                Ok((
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                ))
            })
            .collect()
    }

    /// Stores `all` as it is (ids kept; the counters move past them).
    pub async fn import(&self, all: &Everything) -> Result<(), StoreError> {
        self.runtime.insert(RUNTIME_KEY, serde_json::to_vec(&all.runtime)?)?;
        let bump = |key: &[u8], id: u64| -> Result<(), StoreError> {
            let next = self
                .meta
                .get(key)?
                .map_or(1, |v| u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])));
            if next <= id {
                self.meta.insert(key, &(id + 1).to_be_bytes())?;
            }
            Ok(())
        };
        for f in &all.functions {
            self.functions.insert(id_key(f.id), serde_json::to_vec(f)?)?;
            self.meta.insert(format!("trigger/{}", f.trigger).as_bytes(), &id_key(f.id))?;
            bump(NEXT_FUNCTION_ID, f.id)?;
        }
        for v in &all.versions {
            self.versions.insert(id_key(v.id), serde_json::to_vec(v)?)?;
            let highest = format!("highest_version/{}", v.function_id);
            let before = self
                .meta
                .get(highest.as_bytes())?
                .map_or(0, |b| u64::from_be_bytes(b.as_ref().try_into().unwrap_or([0; 8])));
            self.meta.insert(highest.as_bytes(), &before.max(v.version_number).to_be_bytes())?;
            bump(NEXT_VERSION_ID, v.id)?;
        }
        for (item, digest) in &all.applied {
            self.applied.insert(item.as_bytes(), digest.as_bytes())?;
        }
        self.flush().await
    }

    /// The digest of what was last taken from the app directory for `item`.
    pub fn applied(&self, item: &str) -> Result<Option<String>, StoreError> {
        Ok(self.applied.get(item.as_bytes())?.map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub async fn set_applied(&self, item: &str, digest: &str) -> Result<(), StoreError> {
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
