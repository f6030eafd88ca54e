//! A small RFC 4180 CSV reader for the files lenders upload (payment statements, device
//! lists).
//!
//! Written here rather than taken from a crate: the format is small and fixed (RFC 4180
//! quoting, LF or CRLF, a UTF-8 BOM), and this way every syntax error names its line in
//! words a back office can act on. It reads text that is already in memory; the caller
//! decides how much text it accepts.

/// A CSV record and the line it starts on (1 is the first line of the text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The line the record starts on; a quoted field may carry it over further lines.
    pub line: usize,
    /// The fields, unquoted, untrimmed.
    pub fields: Vec<String>,
}

/// A syntax error: nothing after it can be read with confidence, so the whole text is
/// refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct CsvError {
    /// Where the problem is (for an unclosed quote, where the quote opened).
    pub line: usize,
    /// What is wrong, in words for the person who made the file.
    pub why: String,
}

/// `text` without a leading UTF-8 byte-order mark, which spreadsheet programs often write
/// when they save "CSV UTF-8".
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Reads RFC 4180 CSV: fields separated by commas, records by LF or CRLF; a field in double
/// quotes may hold commas, line breaks and doubled quotes (`""` is one `"`). Blank lines are
/// skipped. At most `max_rows` records after the header.
pub fn parse(text: &str, max_rows: usize) -> Result<Vec<Record>, CsvError> {
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

/// Appends `fields` to `out` as one record that [`parse`] reads back unchanged, ending with
/// LF. Fields are quoted only when they must be, so ordinary rows stay as typed.
pub fn write_record(out: &mut String, fields: &[String]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // A record of one empty field would otherwise be a blank line, which is skipped.
        let lone_empty = fields.len() == 1 && field.is_empty();
        if lone_empty || field.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fields(records: &[Record]) -> Vec<Vec<&str>> {
        records
            .iter()
            .map(|r| r.fields.iter().map(String::as_str).collect())
            .collect()
    }

    #[test]
    fn csv_quotes_commas_and_line_endings() {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\r\n\n\"two\nlines\",2,3\n4,,\"\"";
        let records = parse(text, 10).unwrap();
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
        let err = |text: &str| parse(text, 10).unwrap_err();
        assert_eq!(err("a\nb\n\"open\n").line, 3);
        assert!(err("a\n\"open\nstill").why.contains("not closed"));
        assert_eq!(err("a\nb\"c\n").line, 2);
        assert!(err("a\n\"x\"y\n").why.contains("after the closing quote"));
        assert_eq!(parse("h\n1\n2\n3\n", 2).unwrap_err().line, 4);
        assert_eq!(parse("h\n1\n2\n", 2).unwrap().len(), 3);
        assert_eq!(parse("", 2).unwrap(), []);
    }

    #[test]
    fn errors_and_bom() {
        assert_eq!(
            parse("a\n\"open", 10).unwrap_err().to_string(),
            "line 2: a quoted field is not closed"
        );
        assert_eq!(strip_bom("\u{feff}imei\n"), "imei\n");
        assert_eq!(strip_bom("imei\n"), "imei\n");
    }

    proptest! {
        #[test]
        fn written_records_read_back(
            rows in prop::collection::vec(prop::collection::vec("[a-z ,\"\r\n]{0,6}", 1..4), 0..6)
        ) {
            let mut text = String::new();
            let mut lines = Vec::new();
            for row in &rows {
                lines.push(1 + text.matches('\n').count());
                write_record(&mut text, row);
            }
            let records = parse(&text, rows.len()).unwrap();
            prop_assert_eq!(records.iter().map(|r| &r.fields).collect::<Vec<_>>(), rows.iter().collect::<Vec<_>>());
            prop_assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), lines);
        }

        #[test]
        fn any_text_is_read_or_refused_by_line(text in "[a,\"\r\n]{0,40}") {
            let lines = 1 + text.matches('\n').count();
            match parse(&text, 100) {
                Ok(records) => prop_assert!(records.iter().all(|r| r.line <= lines)),
                Err(e) => prop_assert!(e.line >= 1 && e.line <= lines),
            }
        }
    }
}
