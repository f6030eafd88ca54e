//! `lienlock ctl devices import`: enrolls the phones of a CSV file through the lender API,
//! in chunks of `POST /v1/devices/import`.
//!
//! The whole file is read and checked first, with the server's own reader, so a file the
//! server would refuse is refused here with its line before anything is sent. Each chunk
//! repeats the header, and the server's line numbers are mapped back to the file's. Sending
//! a chunk again is safe: a phone already enrolled by the lender is reported as
//! `already_enrolled`, so a retried chunk, or a second run, enrolls nothing twice.

use super::send::{refusal, retry_after, unsure, Api};
use super::{read_text, ATTEMPTS};
use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lienlock_domain::csv::{self, Record};
use lienlock_server::service::{DeviceCsv, ImportReport, RowResult, RowStatus, MAX_IMPORT_ROWS};
use reqwest::StatusCode;
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Most data rows accepted in one file; it is sent in chunks.
const MAX_ROWS: usize = 1_000_000;
/// One chunk's limit: the server enrolls its rows one by one before it answers.
const CHUNK_TIMEOUT: Duration = Duration::from_secs(300);

/// `ctl devices`.
#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// Enroll the phones of a CSV file through the API; a second run enrolls nothing
    /// twice. Format: docs/api.md, "POST /v1/devices/import".
    Import(ImportArgs),
}

/// `ctl devices import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The CSV file (UTF-8, header row first: imei, and optionally imei2, serial, model).
    file: PathBuf,
    /// The server's base URL, e.g. https://lienlock.example.com.
    #[arg(long, env = "LIENLOCK_SERVER")]
    server: String,
    /// The lender's API key (prefer the environment variable: arguments show in `ps`).
    #[arg(long, env = "LIENLOCK_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Rows per request.
    #[arg(long, default_value_t = 500,
          value_parser = clap::value_parser!(u16).range(1..=MAX_IMPORT_ROWS as i64))]
    chunk: u16,
    /// Print one JSON object per row instead of the table and summary.
    #[arg(long)]
    json: bool,
}

/// Runs a `ctl devices` command.
pub async fn run(cmd: DevicesCommand) -> anyhow::Result<()> {
    match cmd {
        DevicesCommand::Import(a) => import(a).await,
    }
}

async fn import(a: ImportArgs) -> anyhow::Result<()> {
    let name = a.file.display();
    let text = read_text(&a.file)?;
    let file = DeviceCsv::read(&text, MAX_ROWS).map_err(|e| anyhow!("{name}: {e}"))?;
    drop(text);

    let api = Api::new(&a.server, &a.api_key)?;
    // One cheap request first, so a wrong URL or key is one clear error.
    api.check().await?;

    let bar = ProgressBar::new(file.rows().len() as u64);
    // The results go to standard output: no bar when it is piped to a program.
    if !std::io::stdout().is_terminal() {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows {elapsed} (eta {eta})")
    {
        bar.set_style(style);
    }
    let mut results = Vec::with_capacity(file.rows().len());
    for rows in file.rows().chunks(usize::from(a.chunk)) {
        let chunk = Chunk::new(file.header(), rows);
        let sent = send_chunk(&api, &chunk)
            .await
            .and_then(|r| chunk.map_back(r));
        match sent {
            Ok(mut rows) => results.append(&mut rows),
            Err(e) => {
                bar.abandon();
                let first = rows.first().map_or(0, |r| r.line);
                bail!(
                    "stopped at line {first}: {e:#}. Rows before it are enrolled; running the \
                     import again enrolls nothing twice"
                );
            }
        }
        bar.inc(rows.len() as u64);
    }
    bar.finish_and_clear();

    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if a.json {
        for row in &results {
            writeln!(out, "{}", serde_json::to_string(row)?)?;
        }
    } else {
        print_table(&mut out, &results)?;
    }
    out.flush()?;
    let errors = results
        .iter()
        .filter(|r| r.status == RowStatus::Error)
        .count();
    if errors > 0 {
        bail!(
            "{errors} of {} rows not enrolled; correct them and run the import again \
             (rows already enrolled are reported as already enrolled)",
            results.len()
        );
    }
    Ok(())
}

/// One request's worth of rows, re-written as CSV, and where each of its lines came from.
struct Chunk {
    text: String,
    /// The chunk's line of each row -> the file's.
    lines: HashMap<usize, usize>,
}

impl Chunk {
    fn new(header: &[String], rows: &[Record]) -> Self {
        let mut text = String::new();
        csv::write_record(&mut text, header);
        let mut lines = HashMap::with_capacity(rows.len());
        for row in rows {
            // The reader counts lines by LF, quoted line breaks included.
            let line = 1 + text.matches('\n').count();
            lines.insert(line, row.line);
            csv::write_record(&mut text, &row.fields);
        }
        Self { text, lines }
    }

    /// The report's rows with the file's line numbers.
    fn map_back(&self, report: ImportReport) -> anyhow::Result<Vec<RowResult>> {
        if report.rows.len() != self.lines.len() {
            bail!(
                "the server answered for {} rows of {}",
                report.rows.len(),
                self.lines.len()
            );
        }
        report
            .rows
            .into_iter()
            .map(|mut r| {
                r.line = *self
                    .lines
                    .get(&r.line)
                    .with_context(|| format!("the server answered for unknown line {}", r.line))?;
                Ok(r)
            })
            .collect()
    }
}

/// Sends one chunk, retrying answers that may succeed later (503, transport errors):
/// a repeat of a chunk that did land reports its rows as already enrolled.
async fn send_chunk(api: &Api, chunk: &Chunk) -> anyhow::Result<ImportReport> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt == ATTEMPTS;
        let backoff = Duration::from_millis(250 << attempt);
        let sent = api
            .http
            .post(format!("{}/v1/devices/import", api.base))
            .bearer_auth(&api.key)
            .header(reqwest::header::CONTENT_TYPE, "text/csv; charset=utf-8")
            .timeout(CHUNK_TIMEOUT)
            .body(chunk.text.clone())
            .send()
            .await;
        let resp = match sent {
            Ok(resp) => resp,
            Err(e) if last => bail!("{}", unsure(&e)),
            Err(_) => {
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        let status = resp.status();
        if status == StatusCode::SERVICE_UNAVAILABLE && !last {
            tokio::time::sleep(backoff.max(retry_after(&resp))).await;
            continue;
        }
        let text = match resp.text().await {
            Ok(text) => text,
            Err(e) if last => bail!("{}", unsure(&e)),
            Err(_) => {
                tokio::time::sleep(backoff).await;
                continue;
            }
        };
        if status != StatusCode::OK {
            // The file was checked here first, so this is the same for every chunk (a
            // refused key or role, a server that does not know the route): stop.
            bail!("{}", refusal(status, &text));
        }
        return serde_json::from_str(&text)
            .with_context(|| format!("the server answered {status} with an unexpected body"));
    }
}

/// One line per row (line, IMEI, status, device or reason), then the counts.
fn print_table(out: &mut impl Write, rows: &[RowResult]) -> std::io::Result<()> {
    let width = rows
        .iter()
        .map(|r| r.imei.chars().count())
        .max()
        .unwrap_or(0)
        .max("IMEI".len());
    writeln!(
        out,
        "{:>6}  {:width$}  {:16}  DEVICE / ERROR",
        "LINE", "IMEI", "STATUS"
    )?;
    let (mut enrolled, mut already, mut errors) = (0, 0, 0);
    for r in rows {
        let status = match r.status {
            RowStatus::Enrolled => {
                enrolled += 1;
                "enrolled"
            }
            RowStatus::AlreadyEnrolled => {
                already += 1;
                "already_enrolled"
            }
            RowStatus::Error => {
                errors += 1;
                "error"
            }
        };
        let detail = match (&r.device_id, &r.error) {
            (_, Some(why)) => why.clone(),
            (Some(id), None) => id.to_string(),
            (None, None) => String::new(),
        };
        writeln!(
            out,
            "{:>6}  {:width$}  {status:16}  {detail}",
            r.line, r.imei
        )?;
    }
    writeln!(
        out,
        "enrolled {enrolled}, already enrolled {already}, errors {errors}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(line: usize, fields: &[&str]) -> Record {
        Record {
            line,
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn chunks_map_lines_back_to_the_file() {
        let header: Vec<String> = vec!["imei".into(), "model".into()];
        let rows = [
            record(7, &["356938035643809", "two\nlines"]),
            record(9, &["490154203237518", "A15"]),
        ];
        let chunk = Chunk::new(&header, &rows);
        let parsed = csv::parse(&chunk.text, 10).unwrap();
        assert_eq!(parsed[1].fields, rows[0].fields);
        assert_eq!(chunk.lines, HashMap::from([(2, 7), (4, 9)]));

        let row = |line| RowResult {
            line,
            imei: String::new(),
            status: RowStatus::Enrolled,
            device_id: None,
            error: None,
        };
        let report = ImportReport {
            rows: vec![row(2), row(4)],
            ..Default::default()
        };
        let lines: Vec<usize> = chunk
            .map_back(report)
            .unwrap()
            .iter()
            .map(|r| r.line)
            .collect();
        assert_eq!(lines, [7, 9]);
        let short = ImportReport {
            rows: vec![row(2)],
            ..Default::default()
        };
        assert!(chunk.map_back(short).is_err());
    }

    #[test]
    fn the_table_lists_every_row() {
        let rows = vec![
            RowResult {
                line: 2,
                imei: "356938035643809".into(),
                status: RowStatus::Enrolled,
                device_id: Some(lienlock_domain::DeviceId::new()),
                error: None,
            },
            RowResult {
                line: 3,
                imei: "1".into(),
                status: RowStatus::Error,
                device_id: None,
                error: Some("invalid IMEI: an IMEI has 15 digits".into()),
            },
        ];
        let mut out = Vec::new();
        print_table(&mut out, &rows).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert!(
            lines[1].starts_with("     2  356938035643809  enrolled "),
            "{out}"
        );
        assert!(lines[2].starts_with("     3  1  "), "{out}");
        assert!(lines[2].contains("  error  "), "{out}");
        assert!(
            lines[2].ends_with("  invalid IMEI: an IMEI has 15 digits"),
            "{out}"
        );
        assert_eq!(lines[3], "enrolled 1, already enrolled 0, errors 1");
    }
}
