//! Any text as a lender's CSV upload, read by `lienlock_domain::csv::parse` (the reader of
//! both the payments import and the device import) with any row limit. Never a panic. A
//! file that reads has at most the header and `max_rows` records, each on a line of the
//! file, in order, and writing its records back gives a file that reads to the same
//! fields. A refusal names a line of the file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_domain::csv::{parse, write_record, Record};

fuzz_target!(|data: &[u8]| {
    let Some((&max_rows, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let max_rows = usize::from(max_rows);
    let lines = 1 + text.matches('\n').count();
    match parse(text, max_rows) {
        Ok(records) => {
            assert!(records.len() <= max_rows + 1);
            let mut last = 0;
            for r in &records {
                assert!(
                    r.line > last && r.line <= lines,
                    "line {} of {lines}",
                    r.line
                );
                assert!(!r.fields.is_empty());
                last = r.line;
            }
            let mut written = String::new();
            for r in &records {
                write_record(&mut written, &r.fields);
            }
            let again = parse(&written, max_rows).expect("written records read back");
            let fields = |rs: &[Record]| rs.iter().map(|r| r.fields.clone()).collect::<Vec<_>>();
            assert_eq!(fields(&again), fields(&records));
            assert_eq!(parse(text, usize::MAX).as_ref(), Ok(&records));
        }
        Err(e) => assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line),
    }
});
