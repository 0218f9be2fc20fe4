//! Related datasets for dataset pages, remembered for a few minutes per app instance: they change only
//! when the catalog does, and recomputing them on every page view would cost two queries a view.

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
