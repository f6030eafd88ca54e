//! Any text as a device file uploaded to the console or `POST /v1/devices/import`, read by
//! `DeviceCsv::read` (the public entry point; the row-to-enrollment step is private and
//! only looks cells up). Never a panic. A file that reads has a header naming known
//! columns, each at most once, `imei` among them; at most `max_rows` rows; and exactly the
//! records the CSV reader finds, the first being the header. Each row's IMEI cell goes
//! through `Imei::parse`, as enrollment does.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lienlock_domain::csv;
use lienlock_domain::Imei;
use lienlock_server::service::{DeviceCsv, DEVICE_COLUMNS};

fuzz_target!(|data: &[u8]| {
    let Some((&max_rows, text)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let max_rows = usize::from(max_rows);
    let Ok(file) = DeviceCsv::read(text, max_rows) else {
        return;
    };
    assert!(file.rows().len() <= max_rows);
    let mut seen = [0usize; DEVICE_COLUMNS.len()];
    let mut imei_at = None;
    for (i, name) in file.header().iter().enumerate() {
        let k = DEVICE_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name.trim()))
            .expect("only known columns");
        seen[k] += 1;
        if k == 0 {
            imei_at = Some(i);
        }
    }
    assert!(seen.iter().all(|&n| n <= 1) && seen[0] == 1);
    let records = csv::parse(csv::strip_bom(text), usize::MAX).expect("the same reader");
    assert_eq!(records[0].fields, file.header());
    assert_eq!(&records[1..], file.rows());
    let imei_at = imei_at.expect("an imei column");
    for row in file.rows() {
        if let Some(cell) = row.fields.get(imei_at) {
            if let Ok(imei) = Imei::parse(cell.trim()) {
                assert_eq!(imei.as_str(), cell.trim());
            }
        }
    }
});
