//! Reading the statement: RFC 4180 CSV, the header's columns, and each row as a request.

use super::*;

#[derive(Debug, PartialEq)]
pub(super) struct Record {
    pub(super) line: usize,
    pub(super) fields: Vec<String>,
}

/// A syntax error: nothing after it can be read with confidence, so the whole file is
/// refused.
#[derive(Debug, PartialEq)]
pub(super) struct CsvError {
    pub(super) line: usize,
    pub(super) why: String,
}

/// Reads RFC 4180 CSV: fields separated by commas, records by LF or CRLF; a field in double
/// quotes may hold commas, line breaks and doubled quotes (`""` is one `"`). Blank lines are
/// skipped. At most `max_rows` records after the header.
pub(super) fn parse_csv(text: &str, max_rows: usize) -> Result<Vec<Record>, CsvError> {
    let mut records = Vec::new();
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut line = 1;
    let mut start = 1;
    // Where we are in the current field: at its start, in unquoted text, or just after
    // the closing quote of a quoted one.
    let (mut at_start, mut closed) = (true, false);
    let mut chars = text.chars().peekable();
    loop {
        let c = chars.next();
        let ends_field = match c {
            None | Some(',' | '\n') => true,
            Some('\r') => chars.peek() == Some(&'\n'),
            Some(_) => false,
        };
        if closed && !ends_field {
            return Err(CsvError {
                line,
                why: "text after the closing quote of a field".into(),
            });
        }
        match c {
            Some('"') if at_start => {
                let opened = line;
                loop {
                    match chars.next() {
                        None => {
                            return Err(CsvError {
                                line: opened,
                                why: "a quoted field is not closed".into(),
                            })
                        }
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                    }
                }
                (at_start, closed) = (false, true);
            }
            Some('"') => {
                return Err(CsvError {
                    line,
                    why: "a quote inside an unquoted field (quote the whole field and \
                          double the quotes inside it)"
                        .into(),
                })
            }
            Some(',') => {
                fields.push(std::mem::take(&mut field));
                (at_start, closed) = (true, false);
            }
            Some('\r') if chars.peek() == Some(&'\n') => {}
            None | Some('\n') => {
                let blank = fields.is_empty() && field.is_empty() && at_start;
                if !blank {
                    fields.push(std::mem::take(&mut field));
                    if records.len() > max_rows {
                        return Err(CsvError {
                            line: start,
                            why: format!("more than {max_rows} rows; split the file"),
                        });
                    }
                    records.push(Record {
                        line: start,
                        fields: std::mem::take(&mut fields),
                    });
                }
                if c.is_none() {
                    return Ok(records);
                }
                line += 1;
                start = line;
                (at_start, closed) = (true, false);
            }
            Some(c) => {
                field.push(c);
                at_start = false;
            }
        }
    }
}

// ---- from rows to requests ----------------------------------------------------------------

/// The columns a file may have, in the order the docs list them.
pub(super) const COLUMNS: [&str; 7] = [
    "external_ref",
    "amount",
    "currency",
    "received_at",
    "contract_id",
    "imei",
    "reference",
];

/// Where each column is in a file's rows.
#[derive(Debug)]
pub(super) struct Columns {
    pub(super) width: usize,
    pub(super) external_ref: usize,
    pub(super) amount: usize,
    pub(super) currency: usize,
    pub(super) received_at: Option<usize>,
    pub(super) contract_id: Option<usize>,
    pub(super) imei: Option<usize>,
    pub(super) reference: Option<usize>,
}

impl Columns {
    /// Reads the header row. Unknown or repeated columns are refused rather than ignored: a
    /// misspelt `referense` would otherwise turn every payment into an unmatched one.
    pub(super) fn from_header(header: &[String]) -> anyhow::Result<Self> {
        let mut at = [None; COLUMNS.len()];
        let mut unknown = Vec::new();
        for (i, name) in header.iter().enumerate() {
            let name = name.trim();
            match COLUMNS.iter().position(|c| c.eq_ignore_ascii_case(name)) {
                Some(k) if at[k].is_some() => bail!("column {name:?} appears twice"),
                Some(k) => at[k] = Some(i),
                None => unknown.push(format!("{name:?} (column {})", i + 1)),
            }
        }
        if !unknown.is_empty() {
            bail!(
                "unknown column {}; the columns are {}",
                unknown.join(", "),
                COLUMNS.join(", ")
            );
        }
        let required = |k: usize| at[k].with_context(|| format!("no {} column", COLUMNS[k]));
        let columns = Self {
            width: header.len(),
            external_ref: required(0)?,
            amount: required(1)?,
            currency: required(2)?,
            received_at: at[3],
            contract_id: at[4],
            imei: at[5],
            reference: at[6],
        };
        if at[4..].iter().all(Option::is_none) {
            bail!(
                "no contract_id, imei or reference column: at least one says whose payment it is"
            );
        }
        Ok(columns)
    }

    /// The request for one row, or why the row is refused.
    pub(super) fn payment(&self, fields: &[String]) -> Result<PaymentBody, String> {
        if fields.len() != self.width {
            return Err(format!(
                "{} fields, the header has {}",
                fields.len(),
                self.width
            ));
        }
        let cell = |i: usize| fields[i].trim();
        // An empty cell is "not given": such a payment is recorded as unmatched.
        let given = |i: Option<usize>| i.map(cell).filter(|s| !s.is_empty()).map(str::to_owned);
        let external_ref = cell(self.external_ref);
        if external_ref.is_empty() {
            return Err("external_ref is empty".into());
        }
        if external_ref.chars().count() > MAX_EXTERNAL_REF {
            return Err(format!(
                "external_ref is longer than {MAX_EXTERNAL_REF} characters"
            ));
        }
        let currency =
            Currency::parse(cell(self.currency)).map_err(|e| format!("currency: {e}"))?;
        let amount = parse_amount(currency, cell(self.amount))?;
        let received_at = given(self.received_at)
            .map(|s| {
                s.parse::<jiff::Timestamp>().map_err(|_| {
                    format!("received_at {s:?} is not an RFC 3339 time with an offset")
                })
            })
            .transpose()?;
        Ok(PaymentBody {
            contract_id: given(self.contract_id),
            imei: given(self.imei),
            reference: given(self.reference),
            amount,
            currency,
            received_at,
            channel: CHANNEL,
            external_ref: external_ref.to_owned(),
        })
    }
}

/// A positive decimal amount in major units (`1250.50`) as minor units of `currency`.
pub(super) fn parse_amount(currency: Currency, s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Err("amount is empty".into());
    }
    let minor = Money::parse(currency, s)
        .map_err(|e| match e {
            MoneyError::Overflow => format!("amount {s:?} is too large"),
            _ => format!(
                "amount {s:?} is not a number with at most {} decimals ({currency})",
                currency.minor_units()
            ),
        })?
        .minor();
    if minor <= 0 {
        return Err(format!("amount {s:?} is not positive"));
    }
    Ok(minor)
}

/// The body of `POST /v1/payments`.
#[derive(Debug, Serialize)]
pub(super) struct PaymentBody {
    pub(super) contract_id: Option<String>,
    pub(super) imei: Option<String>,
    pub(super) reference: Option<String>,
    pub(super) amount: i64,
    pub(super) currency: Currency,
    pub(super) received_at: Option<jiff::Timestamp>,
    pub(super) channel: &'static str,
    pub(super) external_ref: String,
}

// ---- sending ------------------------------------------------------------------------------

/// What became of one row.
#[cfg(test)]
mod tests {
    use super::*;

    fn fields(records: &[Record]) -> Vec<Vec<&str>> {
        records
            .iter()
            .map(|r| r.fields.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn csv_quotes_commas_and_line_endings() {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\r\n\n\"two\nlines\",2,3\n4,,\"\"";
        let records = parse_csv(text, 10).unwrap();
        assert_eq!(
            fields(&records),
            [
                vec!["a", "b", "c"],
                vec!["x, y", "say \"hi\"", ""],
                vec!["two\nlines", "2", "3"],
                vec!["4", "", ""],
            ]
        );
        let lines: Vec<usize> = records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [1, 2, 4, 6]);
    }

    #[test]
    fn csv_syntax_errors_name_their_line() {
        let err = |text: &str| parse_csv(text, 10).unwrap_err();
        assert_eq!(err("a\nb\n\"open\n").line, 3);
        assert!(err("a\n\"open\nstill").why.contains("not closed"));
        assert_eq!(err("a\nb\"c\n").line, 2);
        assert!(err("a\n\"x\"y\n").why.contains("after the closing quote"));
        assert_eq!(parse_csv("h\n1\n2\n3\n", 2).unwrap_err().line, 4);
        assert_eq!(parse_csv("h\n1\n2\n", 2).unwrap().len(), 3);
        assert_eq!(parse_csv("", 2).unwrap(), []);
    }

    fn header(names: &str) -> anyhow::Result<Columns> {
        Columns::from_header(&names.split(',').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn header_is_checked() {
        let c = header(" Currency ,amount,external_ref,imei").unwrap();
        assert_eq!(
            (c.currency, c.amount, c.external_ref, c.imei),
            (0, 1, 2, Some(3))
        );
        let e = header("external_ref,amount,currency,imei,fee").unwrap_err();
        assert!(e.to_string().contains("\"fee\" (column 5)"), "{e}");
        assert!(header("external_ref,amount,currency,imei,imei").is_err());
        assert!(header("external_ref,amount,currency,received_at").is_err());
        assert!(header("external_ref,currency,reference").is_err());
    }

    fn row(cells: &str) -> Result<PaymentBody, String> {
        let columns = header("external_ref,amount,currency,reference,received_at").unwrap();
        columns.payment(&cells.split(',').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn rows_become_requests_or_reasons() {
        let p = row("TX1, 1250.5 ,KES,LN-1,2026-03-01T10:00:00+03:00").unwrap();
        assert_eq!((p.amount, p.reference.as_deref()), (125_050, Some("LN-1")));
        assert_eq!(p.received_at.unwrap().to_string(), "2026-03-01T07:00:00Z");
        let p = row("TX2,500,UGX,,").unwrap();
        assert_eq!((p.amount, p.reference, p.received_at), (500, None, None));
        assert_eq!(row("TX3,1.25,KWD,,").unwrap().amount, 1_250);
        for (cells, why) in [
            (",1,KES,,", "external_ref is empty"),
            ("T,1.005,KES,,", "at most 2 decimals"),
            ("T,5.5,UGX,,", "at most 0 decimals"),
            ("T,1 000,KES,,", "not a number"),
            ("T,-3,KES,,", "not positive"),
            ("T,0,KES,,", "not positive"),
            ("T,,KES,,", "amount is empty"),
            ("T,1,ZZZ,,", "unknown currency"),
            ("T,1,kes,,", "three uppercase letters"),
            ("T,1,KES,,2026-03-01T10:00:00", "RFC 3339"),
            ("T,1,KES,", "4 fields, the header has 5"),
        ] {
            let e = row(cells).unwrap_err();
            assert!(e.contains(why), "{cells}: {e}");
        }
        let long = format!("{},1,KES,,", "x".repeat(MAX_EXTERNAL_REF + 1));
        assert!(row(&long).unwrap_err().contains("longer than"));
    }
}
