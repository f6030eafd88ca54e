//! `lienlock ctl payments import`: records a payment provider's CSV statement through the
//! lender API, one `POST /v1/payments` per row.
//!
//! Each row is sent with an idempotency key made from its `external_ref`, so an import that
//! was interrupted, or run twice, records every payment once: the second time the server
//! answers "already recorded". The CSV reader is `lienlock_domain::csv`, shared with the
//! server: every syntax error names its line in words a back office can act on.
//!
//! `ctl devices import` ([`devices`]) lives here too: it reads its file the same way.

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use lienlock_domain::{Currency, Money, MoneyError};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Largest file accepted: the whole file is read and checked before anything is sent.
const MAX_FILE_BYTES: u64 = 50 * 1024 * 1024;
/// Most data rows accepted in one file.
const MAX_ROWS: usize = 1_000_000;
/// The channel of every imported payment. With `external_ref` it names the payment on the
/// server, so it must not depend on the file's name: the same transaction in two
/// overlapping statements is one payment.
const CHANNEL: &str = "csv";
/// Prefix of each row's idempotency key.
const KEY_PREFIX: &str = "csv:";
/// The server takes idempotency keys of up to 200 characters; the prefix uses some.
const MAX_EXTERNAL_REF: usize = 200 - KEY_PREFIX.len();
/// One request's limit, connecting included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Tries per row for answers that may succeed later (503, transport errors).
const ATTEMPTS: u32 = 4;

/// `ctl payments`.
#[derive(Debug, Subcommand)]
pub enum PaymentsCommand {
    /// Record the payments of a provider's CSV statement through the API; a second run
    /// records nothing twice. Format: docs/api.md, "Importing payments from CSV".
    Import(ImportArgs),
}

/// `ctl payments import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8, header row first).
    file: PathBuf,
    /// The server's base URL, e.g. https://lienlock.example.com.
    #[arg(long, env = "LIENLOCK_SERVER")]
    server: String,
    /// The lender's API key (prefer the environment variable: arguments show in `ps`).
    #[arg(long, env = "LIENLOCK_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
}

/// Runs a `ctl payments` command.
pub async fn run(cmd: PaymentsCommand) -> anyhow::Result<()> {
    match cmd {
        PaymentsCommand::Import(a) => import(a).await,
    }
}

async fn import(a: ImportArgs) -> anyhow::Result<()> {
    let name = a.file.display();
    let text = read_text(&a.file)?;
    let records =
        parse_csv(&text, MAX_ROWS).map_err(|e| anyhow!("{name} line {}: {}", e.line, e.why))?;
    drop(text);
    let mut records = records.into_iter();
    let Some(header) = records.next() else {
        bail!("{name} is empty: the first row must name the columns");
    };
    let columns = Columns::from_header(&header.fields).map_err(|e| anyhow!("{name}: {e}"))?;
    let rows: Vec<(usize, Result<PaymentBody, String>)> = records
        .map(|r| (r.line, columns.payment(&r.fields)))
        .collect();

    let api = Arc::new(Api::new(&a.server, &a.api_key)?);
    // One cheap request first, so a wrong URL or key is one clear error, not one per row.
    api.check().await?;
    let outcomes = send_all(api, rows, usize::from(a.concurrency)).await?;

    let mut summary = Summary::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (line, outcome) in &outcomes {
        summary.count(outcome);
        match outcome {
            Outcome::Refused(why) => writeln!(out, "line {line}: refused: {why}")?,
            Outcome::Recorded {
                matched: false,
                id,
                external_ref,
                ..
            } => writeln!(
                out,
                "line {line}: unmatched: payment {id} (external_ref {external_ref})"
            )?,
            Outcome::Recorded { .. } => {}
        }
    }
    writeln!(out, "{summary}")?;
    out.flush()?;
    if summary.refused > 0 {
        bail!(
            "{} of {} rows refused; correct them and run the import again \
             (rows already recorded are not recorded twice)",
            summary.refused,
            outcomes.len()
        );
    }
    Ok(())
}

// ---- reading the file ---------------------------------------------------------------------

/// The file as text, without a UTF-8 BOM, refused when over [`MAX_FILE_BYTES`].
fn read_text(path: &Path) -> anyhow::Result<String> {
    let name = path.display();
    let too_big = || anyhow!("{name} is over 50 MB; split it into smaller files");
    let file = std::fs::File::open(path).with_context(|| format!("opening {name}"))?;
    if file.metadata()?.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    // `take` because the file may grow between the size check and the read.
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut text = String::from_utf8(bytes).map_err(|e| {
        anyhow!(
            "{name} is not UTF-8 text (byte {}); export the statement as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })?;
    // Spreadsheet programs often save "CSV UTF-8" with a byte-order mark.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(text)
}

/// The statement's columns and rows.
mod csv;
pub mod devices;
mod send;

use csv::{parse_csv, Columns, PaymentBody};
use send::{send_all, Api, Outcome};

#[derive(Debug, Default)]
struct Summary {
    imported: usize,
    already: usize,
    unmatched: usize,
    refused: usize,
}

impl Summary {
    fn count(&mut self, o: &Outcome) {
        match o {
            Outcome::Recorded { new, matched, .. } => {
                if *new {
                    self.imported += 1;
                } else {
                    self.already += 1;
                }
                if !matched {
                    self.unmatched += 1;
                }
            }
            Outcome::Refused(_) => self.refused += 1,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "imported {}, already recorded {}, unmatched {}, refused {}",
            self.imported, self.already, self.unmatched, self.refused
        )
    }
}
