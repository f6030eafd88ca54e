//! The fleet the bench measures: phones enrolled through the API with a contract each,
//! then put where weeks of arrears would have put them.

use super::nodes::Deployment;
use crate::simulate::enroll::{imei, random_block};
use crate::simulate::http::{refusal, send};
use anyhow::{anyhow, bail, Context};
use lienlock_domain::Imei;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Requests in flight while setting up.
const CONCURRENCY: usize = 32;

/// The contract every phone gets: one installment long overdue, the rest far ahead.
fn contract(device: &str, imei: &Imei) -> Value {
    json!({
        "device_id": device,
        "reference": format!("BENCH-{imei}"),
        "terms": {
            "currency": "KES",
            "financed": 30_000,
            "schedule": {"explicit": [["2020-01-10", 10_000], ["2099-02-10", 20_000]]},
            "time_zone": "Africa/Nairobi"
        }
    })
}

/// The payment that pays the overdue installment.
pub fn cure(imei: &Imei) -> Value {
    json!({"imei": imei.as_str(), "amount": 10_000, "currency": "KES", "channel": "bench"})
}

/// Enrolls `n` phones with contracts (through node 0's API) and locks them by the
/// policy. Returns their IMEIs, in order.
pub async fn prepare(d: &Deployment, n: u32) -> anyhow::Result<Vec<Imei>> {
    let block = random_block();
    let imeis: Vec<Imei> = (0..n).map(|i| imei(block, i)).collect::<Result<_, _>>()?;
    let imeis = Arc::new(imeis);
    let bar = indicatif::ProgressBar::new(u64::from(n));
    bar.set_message("phones enrolled with a contract");
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::new();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (imeis, next, bar, http) = (imeis.clone(), next.clone(), bar.clone(), http.clone());
        let (base, key) = (d.urls[0].clone(), d.api_key.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(imei) = imeis.get(i) else {
                    return anyhow::Ok(());
                };
                let device = post(
                    &http,
                    &format!("{base}/v1/devices"),
                    &key,
                    &json!({"imei": imei.as_str()}),
                )
                .await
                .with_context(|| format!("enrolling {imei}"))?;
                let id = device["id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("no device id"))?;
                post(
                    &http,
                    &format!("{base}/v1/contracts"),
                    &key,
                    &contract(id, imei),
                )
                .await
                .with_context(|| format!("the contract of {imei}"))?;
                bar.inc(1);
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("an enrollment worker")??;
    }
    bar.finish_and_clear();
    let locked = lienlock_store_sql::bench::lock_by_policy(&d.database, &imeis)
        .await
        .context("locking the fleet by the policy")?;
    if locked != u64::from(n) {
        bail!("locked {locked} devices by the policy, expected {n}");
    }
    Ok(Arc::try_unwrap(imeis).unwrap_or_else(|a| (*a).clone()))
}

async fn post(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> anyhow::Result<Value> {
    let resp = send(|| http.post(url).bearer_auth(key).json(body))
        .await
        .map_err(|e| anyhow!("{url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("{url}: {}", refusal(status, &text));
    }
    serde_json::from_str(&text).with_context(|| format!("{url}: not JSON"))
}
