//! What dataset pages remember per app instance: related datasets for a few minutes (they change only
//! when the catalog does, and recomputing them costs two queries a view), and the datasets themselves
//! for as long as the catalog version does not move.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::db;
use super::model::{Dataset, DatasetSummary};

/// How long a remembered list is used.
const TTL: Duration = Duration::from_secs(300);
/// Most lists remembered; beyond it the oldest half is forgotten.
const CAPACITY: usize = 20_000;
/// Related datasets shown on a page.
pub const SHOWN: i64 = 5;

type Entry = (Instant, Arc<Vec<DatasetSummary>>);

/// Remembered related-dataset lists, by dataset id and version.
#[derive(Default)]
pub struct RelatedCache {
    entries: Mutex<HashMap<(i64, i32), Entry>>,
}

impl RelatedCache {
    /// The related datasets of `dataset`, from memory when fresh enough.
    pub async fn get(
        &self,
        db: &PgPool,
        dataset: &Dataset,
    ) -> sqlx::Result<Arc<Vec<DatasetSummary>>> {
        let key = (dataset.id, dataset.version);
        if let Some((at, related)) = self.lock().get(&key)
            && at.elapsed() < TTL
        {
            return Ok(related.clone());
        }
        let related = Arc::new(db::related_datasets(db, dataset, SHOWN).await?);
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            let mut ages: Vec<Instant> = entries.values().map(|(at, _)| *at).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 2];
            entries.retain(|_, (at, _)| *at > cutoff);
        }
        entries.insert(key, (Instant::now(), related.clone()));
        Ok(related)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, i32), Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Recently viewed datasets by slug, each with the catalog version it was read at.
#[derive(Default)]
pub struct DatasetCache {
    entries: Mutex<HashMap<String, (i64, Arc<Dataset>)>>,
}

impl DatasetCache {
    /// The dataset, when it was read at catalog version `version`.
    pub fn get(&self, slug: &str, version: i64) -> Option<Arc<Dataset>> {
        match self.lock().get(slug) {
            Some((at, dataset)) if *at == version => Some(dataset.clone()),
            _ => None,
        }
    }

    /// Remembers `dataset` as read at catalog version `version`.
    pub fn put(&self, version: i64, dataset: Arc<Dataset>) {
        let mut entries = self.lock();
        if entries.len() >= CAPACITY {
            entries.retain(|_, (at, _)| *at == version);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(dataset.fields.slug.clone(), (version, dataset));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (i64, Arc<Dataset>)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
