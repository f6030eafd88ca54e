//! Bulk enrollment from a CSV file: one row per phone, each enrolled on its own through
//! [`Service::enroll`], so roles, IMEI rules, duplicate checks and timeline events are those
//! of `POST /v1/devices`.
//!
//! Problems with the file as a whole (its syntax, its header, its size, the caller's role)
//! refuse it before anything is written. Problems with one row are reported for that row
//! and do not stop the others.

use super::{EnrollRequest, Service, ServiceError};
use lienlock_domain::csv::{self, Record};
use lienlock_domain::Permission;
use lienlock_domain::{DeviceId, DeviceState, Imei, LenderCtx};
use serde::{Deserialize, Serialize};

/// Most data rows one upload may hold. A larger file is refused whole, so that one request
/// stays short; `lienlock ctl devices import` sends big files in chunks.
pub const MAX_IMPORT_ROWS: usize = 10_000;

/// The columns a device file may have, as `POST /v1/devices` names its fields.
pub const DEVICE_COLUMNS: [&str; 4] = ["imei", "imei2", "serial", "model"];

/// A device CSV whose syntax and header are right. Its rows are checked when enrolled.
#[derive(Debug, Clone)]
pub struct DeviceCsv {
    header: Vec<String>,
    /// Where each of [`DEVICE_COLUMNS`] is in a row; `imei` is always present.
    at: [Option<usize>; DEVICE_COLUMNS.len()],
    rows: Vec<Record>,
}

impl DeviceCsv {
    /// Reads a device file: a header row naming the columns (any order, any case), then one
    /// row per phone. A byte-order mark is ignored. Refused whole, as
    /// [`ServiceError::MalformedCsv`] or [`ServiceError::InvalidCsv`], for a syntax error,
    /// a missing header, a missing `imei` column, an unknown or repeated column, or more
    /// than `max_rows` rows.
    pub fn read(text: &str, max_rows: usize) -> Result<Self, ServiceError> {
        // Read everything before counting: the caller bounds the text's size, and a syntax
        // error anywhere is worth reporting as such.
        let mut records = csv::parse(csv::strip_bom(text), usize::MAX)
            .map_err(ServiceError::MalformedCsv)?
            .into_iter();
        let Some(header) = records.next() else {
            return Err(invalid(
                "the file is empty; its first row must name the columns (imei, and \
                 optionally imei2, serial, model)"
                    .into(),
            ));
        };
        let rows: Vec<Record> = records.collect();
        if rows.len() > max_rows {
            return Err(invalid(format!(
                "{} rows; at most {max_rows} rows per upload, split the file",
                rows.len()
            )));
        }
        let at = locate(&header.fields)?;
        Ok(Self {
            header: header.fields,
            at,
            rows,
        })
    }

    /// The header row as written.
    pub fn header(&self) -> &[String] {
        &self.header
    }

    /// The data rows, in file order, each with its line.
    pub fn rows(&self) -> &[Record] {
        &self.rows
    }

    /// The primary IMEI cell of a row as written (trimmed), for the report.
    fn imei_cell(&self, row: &Record) -> String {
        self.cell(row, 0).unwrap_or_default().to_owned()
    }

    /// A trimmed cell, `None` when the column is absent, the row is short, or it is empty.
    fn cell<'a>(&self, row: &'a Record, column: usize) -> Option<&'a str> {
        let i = self.at[column]?;
        row.fields
            .get(i)
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    /// The enrollment a row asks for, or why the row cannot be one.
    fn request(&self, row: &Record) -> Result<EnrollRequest, String> {
        if row.fields.len() != self.header.len() {
            return Err(format!(
                "{} fields, the header has {}",
                row.fields.len(),
                self.header.len()
            ));
        }
        let owned = |column| self.cell(row, column).map(str::to_owned);
        Ok(EnrollRequest {
            // An empty IMEI goes through the enrollment's own check and gets its wording.
            imei: self.imei_cell(row),
            imei2: owned(1),
            serial: owned(2),
            model: owned(3),
        })
    }
}

fn invalid(why: String) -> ServiceError {
    ServiceError::InvalidCsv(why)
}

/// Where each known column is. Unknown and repeated columns are refused rather than
/// ignored: a misspelt `imei_2` would otherwise enroll phones without their second IMEI.
fn locate(header: &[String]) -> Result<[Option<usize>; DEVICE_COLUMNS.len()], ServiceError> {
    let mut at = [None; DEVICE_COLUMNS.len()];
    let mut unknown = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        match DEVICE_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
        {
            Some(k) if at[k].is_some() => {
                return Err(invalid(format!("column {name:?} appears twice")))
            }
            Some(k) => at[k] = Some(i),
            None => unknown.push(format!("{name:?} (column {})", i + 1)),
        }
    }
    if !unknown.is_empty() {
        return Err(invalid(format!(
            "unknown column {}; the columns are {}",
            unknown.join(", "),
            DEVICE_COLUMNS.join(", ")
        )));
    }
    if at[0].is_none() {
        return Err(invalid("no imei column".into()));
    }
    Ok(at)
}

/// What became of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = ImportRowStatus)]
pub enum RowStatus {
    /// This upload enrolled the phone.
    Enrolled,
    /// The caller's lender already holds an enrollment of this IMEI that is not released;
    /// nothing was written. Importing the same file again reports every row this way.
    AlreadyEnrolled,
    /// Not enrolled; `error` says why.
    Error,
}

/// One row's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = ImportRow)]
pub struct RowResult {
    /// The line the row starts on (the header is line 1).
    pub line: usize,
    /// The row's `imei` cell, trimmed, as written.
    pub imei: String,
    /// What happened.
    pub status: RowStatus,
    /// The enrolled device: the new one, or the existing one for `already_enrolled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = "uuid")]
    pub device_id: Option<DeviceId>,
    /// Why the row was not enrolled, worded as `POST /v1/devices` words it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The result of an upload: counts, and one result per data row in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportReport {
    /// Data rows in the file.
    pub total: usize,
    /// Rows this upload enrolled.
    pub enrolled: usize,
    /// Rows whose IMEI the lender had already enrolled.
    pub already_enrolled: usize,
    /// Rows not enrolled.
    pub errors: usize,
    /// Every row's result.
    pub rows: Vec<RowResult>,
}

impl ImportReport {
    fn push(&mut self, row: RowResult) {
        self.total += 1;
        match row.status {
            RowStatus::Enrolled => self.enrolled += 1,
            RowStatus::AlreadyEnrolled => self.already_enrolled += 1,
            RowStatus::Error => self.errors += 1,
        }
        self.rows.push(row);
    }
}

impl Service {
    /// Enrolls the phones of a device CSV (see [`DeviceCsv::read`] for the format) for the
    /// caller's lender, at most [`MAX_IMPORT_ROWS`] rows.
    ///
    /// Each row is enrolled on its own as [`Service::enroll`] would: a row that fails does
    /// not stop the others, and its result says why. An IMEI the caller's lender already
    /// enrolled is `already_enrolled`, so importing a file again is safe; one enrolled by
    /// another lender is an error that does not say which lender.
    ///
    /// Errors with nothing written: [`ServiceError::Forbidden`] for a role that may not
    /// enroll, [`ServiceError::MalformedCsv`] and [`ServiceError::InvalidCsv`] for the file.
    /// A storage failure stops the upload with its error; rows before it stay enrolled, and
    /// uploading the file again reports them as `already_enrolled`.
    pub async fn import_devices(
        &self,
        ctx: &LenderCtx,
        csv: &str,
    ) -> Result<ImportReport, ServiceError> {
        ctx.require(Permission::Enroll)?;
        let file = DeviceCsv::read(csv, MAX_IMPORT_ROWS)?;
        let mut report = ImportReport::default();
        for row in file.rows() {
            let imei = file.imei_cell(row);
            let result = match file.request(row) {
                Err(why) => Err(why),
                Ok(req) => self.import_row(ctx, req).await?,
            };
            report.push(match result {
                Ok((status, id)) => RowResult {
                    line: row.line,
                    imei,
                    status,
                    device_id: Some(id),
                    error: None,
                },
                Err(why) => RowResult {
                    line: row.line,
                    imei,
                    status: RowStatus::Error,
                    device_id: None,
                    error: Some(why),
                },
            });
        }
        Ok(report)
    }

    /// Enrolls one row. The outer error stops the upload (storage); the inner one is the
    /// row's.
    async fn import_row(
        &self,
        ctx: &LenderCtx,
        req: EnrollRequest,
    ) -> Result<Result<(RowStatus, DeviceId), String>, ServiceError> {
        let typed = req.imei.clone();
        match self.enroll(ctx, req).await {
            Ok(device) => Ok(Ok((RowStatus::Enrolled, device.id))),
            Err(e @ ServiceError::ImeiTaken(_)) => {
                // Taken by whom? Only the caller's own enrollments are looked at, so the
                // answer about another lender's stays the single enrollment's wording.
                let own = match Imei::parse(&typed) {
                    Ok(imei) => self.store.device_by_imei(ctx, &imei).await?,
                    Err(_) => None,
                };
                Ok(match own {
                    Some(d) if d.state != DeviceState::Released => {
                        Ok((RowStatus::AlreadyEnrolled, d.id))
                    }
                    _ => Err(e.to_string()),
                })
            }
            Err(e @ (ServiceError::InvalidImei(_) | ServiceError::Invalid { .. })) => {
                Ok(Err(e.to_string()))
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<DeviceCsv, ServiceError> {
        DeviceCsv::read(text, 3)
    }

    fn why(text: &str) -> String {
        read(text).unwrap_err().to_string()
    }

    #[test]
    fn header_is_checked() {
        let f = read("\u{feff} Model ,IMEI\r\nA15,356938035643809\r\n").unwrap();
        assert_eq!(f.at, [Some(1), None, None, Some(0)]);
        assert_eq!(f.rows().len(), 1);
        assert_eq!(f.rows()[0].line, 2);
        let e = why("imei,colour,size\n");
        assert!(
            e.contains("unknown column \"colour\" (column 2), \"size\" (column 3)"),
            "{e}"
        );
        assert!(why("imei,IMEI\n").contains("appears twice"));
        assert!(why("serial,model\n").contains("no imei column"));
        assert!(why("").contains("empty"));
        assert!(why("\n\n").contains("empty"));
        assert!(read("imei\n").unwrap().rows().is_empty());
    }

    #[test]
    fn size_and_syntax_refuse_the_file() {
        assert!(read("imei\n1\n2\n3\n").is_ok());
        let e = read("imei\n1\n2\n3\n4\n").unwrap_err();
        assert!(matches!(e, ServiceError::InvalidCsv(_)), "{e}");
        assert!(e.to_string().contains("at most 3 rows"), "{e}");
        let e = read("imei\n1\n\"2\n").unwrap_err();
        assert!(matches!(e, ServiceError::MalformedCsv(_)), "{e}");
        assert_eq!(
            e.to_string(),
            "malformed CSV: line 3: a quoted field is not closed"
        );
    }

    #[test]
    fn rows_become_requests() {
        let f = read("imei,imei2,serial,model\n 356938035643809 ,,SN 1,\n1,2\n").unwrap();
        let req = f.request(&f.rows()[0]).unwrap();
        assert_eq!(req.imei, "356938035643809");
        assert_eq!(
            (req.imei2, req.serial.as_deref(), req.model),
            (None, Some("SN 1"), None)
        );
        assert_eq!(
            f.request(&f.rows()[1]).unwrap_err(),
            "2 fields, the header has 4"
        );
        assert_eq!(f.imei_cell(&f.rows()[1]), "1");
    }

    #[test]
    fn report_counts() {
        let mut r = ImportReport::default();
        for status in [RowStatus::Enrolled, RowStatus::Error, RowStatus::Enrolled] {
            r.push(RowResult {
                line: 2,
                imei: String::new(),
                status,
                device_id: None,
                error: None,
            });
        }
        assert_eq!(
            (r.total, r.enrolled, r.already_enrolled, r.errors),
            (3, 2, 0, 1)
        );
        let json = serde_json::to_value(&r.rows[1]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"line": 2, "imei": "", "status": "error"})
        );
    }
}
