//! Measures what one password hash costs with the portal's argon2id parameters: the median of 25
//! hashes and of 25 verifications. Run with `cargo run --release --example password_hash_cost`.

use std::time::{Duration, Instant};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut hashing = Vec::new();
    let mut verifying = Vec::new();
    let mut stored = String::new();
    for _ in 0..25 {
        let started = Instant::now();
        stored = radportal::auth::password::hash("violet tundra ferry 42".to_owned()).await?;
        hashing.push(started.elapsed());
        let started = Instant::now();
        radportal::auth::password::verify("violet tundra ferry 42".to_owned(), stored.clone())
            .await?;
        verifying.push(started.elapsed());
    }
    let parameters = stored.split('$').nth(3).unwrap_or("?");
    println!("argon2id {parameters}");
    println!(
        "hash:   median {:.1} ms over 25",
        median(hashing).as_secs_f64() * 1000.0
    );
    println!(
        "verify: median {:.1} ms over 25",
        median(verifying).as_secs_f64() * 1000.0
    );
    Ok(())
}
