//! What an app runs, as saved through the Platform API or taken from its directory: the
//! Node.js runtime (dependencies, initialization script, environment variables), one function
//! per trigger, and each function's immutable versions, one of which is current. Kept in the
//! app's sled database (`sled.rs`) or in PostgreSQL (`postgres.rs`, shared by every node, each
//! of which reads from a copy it keeps in memory and renews when any node changes it).
//!
//! `applied` remembers a digest of what was last taken from the app directory for each item,
//! so a restart picks up a file that changed and keeps API changes to files that did not:
//! the newest change wins, whichever side it came from.

mod postgres;
mod sled;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::postgres::Held;

pub use self::postgres::{generations, PgFunctions};
pub use self::sled::SledFunctions;

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

/// Everything an app runs, as `chatfn store copy` moves it: functions and versions in id order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Everything {
    pub runtime: RuntimeRecord,
    pub functions: Vec<FunctionRecord>,
    pub versions: Vec<VersionRecord>,
    pub applied: BTreeMap<String, String>,
}

/// An app's runtime and functions, in whichever store the server was given. Reads answer at
/// once (sled reads, or PostgreSQL's copy in memory); writes return once durable.
#[derive(Clone)]
pub enum FunctionsStore {
    Sled(SledFunctions),
    Postgres(PgFunctions),
}

/// Calls the same method on either store.
macro_rules! either {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            FunctionsStore::Sled($store) => $call,
            FunctionsStore::Postgres($store) => $call,
        }
    };
}

impl FunctionsStore {
    pub fn runtime(&self) -> Result<RuntimeRecord, StoreError> {
        either!(self, s => s.runtime())
    }

    /// Saves `change` applied to the current runtime; answers the new record.
    pub async fn update_runtime(
        &self,
        change: impl FnOnce(&mut RuntimeRecord),
    ) -> Result<RuntimeRecord, StoreError> {
        either!(self, s => s.update_runtime(change).await)
    }

    pub fn functions(&self) -> Result<Vec<FunctionRecord>, StoreError> {
        either!(self, s => s.functions())
    }

    pub fn function(&self, id: u64) -> Result<Option<FunctionRecord>, StoreError> {
        either!(self, s => s.function(id))
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
        either!(self, s => s.create_function(trigger, name, description).await)
    }

    /// Deletes a function and its versions (its invocation records stay); answers what it was.
    pub async fn delete_function(&self, id: u64) -> Result<FunctionRecord, StoreError> {
        either!(self, s => s.delete_function(id).await)
    }

    /// A function's versions, oldest first.
    pub fn versions(&self, function_id: u64) -> Result<Vec<VersionRecord>, StoreError> {
        either!(self, s => s.versions(function_id))
    }

    pub fn version(&self, id: u64) -> Result<Option<VersionRecord>, StoreError> {
        either!(self, s => s.version(id))
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
        either!(self, s => s.add_version(function_id, handler_script, file).await)
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
                return Err(StoreError::NotFound(super::Subject::Version {
                    function: function_id,
                    number,
                }));
            }
        }
        let mut function = self
            .function(function_id)?
            .ok_or(StoreError::NotFound(super::Subject::Function(function_id)))?;
        change(&mut function);
        either!(self, s => s.save_function(&function).await)?;
        Ok(function)
    }

    /// The digest of what was last taken from the app directory for `item`.
    pub fn applied(&self, item: &str) -> Result<Option<String>, StoreError> {
        either!(self, s => s.applied(item))
    }

    /// Remembers `digest` for `item`: durable, with sled, at the next flush.
    pub async fn set_applied(&self, item: &str, digest: &str) -> Result<(), StoreError> {
        either!(self, s => s.set_applied(item, digest).await)
    }

    /// With PostgreSQL, holds the app's lock `name` (one node at a time does what it guards)
    /// and renews the copy; sled has one node, and needs none.
    pub async fn lock(&self, name: &str) -> Result<Option<Held>, StoreError> {
        match self {
            FunctionsStore::Sled(_) => Ok(None),
            FunctionsStore::Postgres(p) => Ok(Some(p.lock(name).await?)),
        }
    }

    /// With PostgreSQL, reads the app's rows again (another node changed them); answers
    /// whether anything differed.
    pub async fn reload(&self) -> Result<bool, StoreError> {
        match self {
            FunctionsStore::Sled(_) => Ok(false),
            FunctionsStore::Postgres(p) => p.reload().await,
        }
    }

    /// Everything the app runs, read at once.
    pub fn everything(&self) -> Result<Everything, StoreError> {
        let mut functions = self.functions()?;
        functions.sort_by_key(|f| f.id);
        let mut versions = Vec::new();
        for f in &functions {
            versions.extend(self.versions(f.id)?);
        }
        versions.sort_by_key(|v| v.id);
        let applied = either!(self, s => s.applied_all())?;
        Ok(Everything { runtime: self.runtime()?, functions, versions, applied })
    }

    /// Stores `all` into an app that has no functions yet, ids kept (`chatfn store copy`).
    pub async fn import(&self, all: &Everything) -> Result<(), StoreError> {
        if !self.functions()?.is_empty() {
            return Err(StoreError::Conflict("the app already has functions there".into()));
        }
        either!(self, s => s.import(all).await)
    }

    /// Makes every write so far durable.
    pub async fn flush(&self) -> Result<(), StoreError> {
        match self {
            FunctionsStore::Sled(s) => s.flush().await,
            FunctionsStore::Postgres(_) => Ok(()),
        }
    }
}
