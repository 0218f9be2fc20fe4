//! Search relevance measured on a judged query set (`tests/relevance/queries.json`) over the real catalog.
//!
//! Each query lists the datasets a researcher expects near the top, graded 2 (what was asked for) or 1
//! (clearly relevant). The test computes nDCG@10 and recall@5 over the first page of the search page
//! and fails below thresholds set from measurement.

use std::collections::HashMap;

use serde::Deserialize;

use crate::helpers::TestApp;

/// Mean nDCG@10 must stay at or above this (measured 0.713 over 51 queries).
const MIN_MEAN_NDCG_AT_10: f64 = 0.70;
/// Mean recall@5 must stay at or above this (measured 0.673).
const MIN_MEAN_RECALL_AT_5: f64 = 0.65;

#[derive(Deserialize)]
struct JudgedSet {
    queries: Vec<JudgedQuery>,
}

#[derive(Deserialize)]
struct JudgedQuery {
    query: String,
    judgments: HashMap<String, u32>,
}

fn dcg(gains: impl Iterator<Item = u32>) -> f64 {
    gains
        .enumerate()
        .map(|(rank, grade)| (2f64.powi(grade as i32) - 1.0) / ((rank as f64) + 2.0).log2())
        .sum()
}

fn ndcg_at(k: usize, ranked: &[String], judgments: &HashMap<String, u32>) -> f64 {
    let actual = dcg(ranked
        .iter()
        .take(k)
        .map(|slug| judgments.get(slug).copied().unwrap_or(0)));
    let mut ideal: Vec<u32> = judgments.values().copied().collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let best = dcg(ideal.into_iter().take(k));
    if best == 0.0 { 0.0 } else { actual / best }
}

fn recall_at(k: usize, ranked: &[String], judgments: &HashMap<String, u32>) -> f64 {
    let wanted = judgments.len().min(k);
    let found = ranked
        .iter()
        .take(k)
        .filter(|slug| judgments.contains_key(*slug))
        .count();
    found as f64 / wanted as f64
}

#[test]
fn metrics_behave_on_known_rankings() {
    let judgments: HashMap<String, u32> = [("a".to_owned(), 2), ("b".to_owned(), 1)].into();
    let perfect = ["a".to_owned(), "b".to_owned()];
    let swapped = ["b".to_owned(), "a".to_owned()];
    let miss = ["x".to_owned(), "y".to_owned()];
    assert!((ndcg_at(10, &perfect, &judgments) - 1.0).abs() < 1e-9);
    assert!(ndcg_at(10, &swapped, &judgments) < 1.0);
    assert_eq!(ndcg_at(10, &miss, &judgments), 0.0);
    assert_eq!(recall_at(5, &swapped, &judgments), 1.0);
    assert_eq!(recall_at(5, &miss, &judgments), 0.0);
}

#[tokio::test]
async fn search_ranks_the_judged_datasets_near_the_top() {
    let set: JudgedSet = serde_json::from_str(include_str!("../relevance/queries.json")).unwrap();
    assert!(set.queries.len() >= 25);
    let app = TestApp::with_catalog().await;

    let mut ndcg_sum = 0.0;
    let mut recall_sum = 0.0;
    let mut report = Vec::new();
    for judged in &set.queries {
        let response = app
            .client
            .get(app.url("/datasets"))
            .query(&[("q", judged.query.as_str())])
            .send()
            .await
            .unwrap();
        let page = crate::helpers::Page::new(&response.text().await.unwrap());
        let ranked = page.result_slugs();
        let ndcg = ndcg_at(10, &ranked, &judged.judgments);
        let recall = recall_at(5, &ranked, &judged.judgments);
        ndcg_sum += ndcg;
        recall_sum += recall;
        report.push(format!(
            "{ndcg:.2} {recall:.2}  {}  → {:?}",
            judged.query,
            &ranked[..ranked.len().min(5)]
        ));
    }
    let count = set.queries.len() as f64;
    let (mean_ndcg, mean_recall) = (ndcg_sum / count, recall_sum / count);
    eprintln!("nDCG@10 recall@5 per query:\n{}", report.join("\n"));
    eprintln!(
        "mean nDCG@10 = {mean_ndcg:.3}, mean recall@5 = {mean_recall:.3} over {} queries",
        set.queries.len()
    );

    assert!(
        mean_ndcg >= MIN_MEAN_NDCG_AT_10,
        "mean nDCG@10 {mean_ndcg:.3} < {MIN_MEAN_NDCG_AT_10}"
    );
    assert!(
        mean_recall >= MIN_MEAN_RECALL_AT_5,
        "mean recall@5 {mean_recall:.3} < {MIN_MEAN_RECALL_AT_5}"
    );
}
