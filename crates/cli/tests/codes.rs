//! `lienlock codes openpaygo` as a script uses it: one JSON line out, a clear message and a
//! non-zero exit for bad arguments.

use serde_json::{json, Value};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lienlock");
/// The first device of the official vectors.
const KEY: &str = "bc41ec9530f6dac86b1a29ab82edc5fb";
const START: &str = "516959010";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("codes")
        .arg("openpaygo")
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must succeed and returns its one JSON line.
fn json_line(args: &[&str]) -> Value {
    let out = run(args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// Runs a command that must fail and returns its stderr.
fn failure(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty(), "{args:?} printed to stdout");
    String::from_utf8(out.stderr).unwrap()
}

fn generate(count: &str, kind: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "generate",
        "--key",
        KEY,
        "--starting-code",
        START,
        "--count",
        count,
        "--type",
        kind,
    ];
    args.extend_from_slice(extra);
    json_line(&args)
}

fn decode(count: &str, extra: &[&str], token: &str) -> Value {
    let mut args = vec![
        "decode",
        "--key",
        KEY,
        "--starting-code",
        START,
        "--count",
        count,
    ];
    args.extend_from_slice(extra);
    args.push(token);
    json_line(&args)
}

#[test]
fn generate_prints_the_official_tokens() {
    assert_eq!(
        generate("1", "add-time", &["--value", "1"]),
        json!({"new_count": 2, "token": "588224011"})
    );
    assert_eq!(
        generate("1", "add-time", &["--value", "1", "--extended"]),
        json!({"new_count": 2, "token": "247264959011"})
    );
    assert_eq!(
        generate("1", "disable-payg", &["--restricted-digits", "--extended"]),
        json!({"new_count": 3, "token": "33131421441234431131"})
    );
    assert_eq!(
        generate("1", "counter-sync", &[]),
        json!({"new_count": 3, "token": "160440009"})
    );
}

#[test]
fn decode_prints_type_value_count_and_used() {
    let out = run(&[
        "decode",
        "--key",
        KEY,
        "--starting-code",
        START,
        "--count",
        "1",
        "--used",
        "1",
        "588224011",
    ]);
    assert!(out.status.success());
    // The exact line, field order included.
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"type\":\"ADD_TIME\",\"value\":1,\"count\":2,\"used\":[1,2]}\n"
    );
    // The same with `--used=` and with an empty list: the device's count is used anyway.
    let accepted = json!({"type": "ADD_TIME", "value": 1, "count": 2, "used": [1, 2]});
    assert_eq!(decode("1", &["--used=1"], "588224011"), accepted);
    assert_eq!(decode("1", &["--used="], "588224011"), accepted);
    assert_eq!(decode("1", &[], "588224011"), accepted);
    // Entered again.
    assert_eq!(
        decode("2", &["--used=1,2"], "588224011"),
        json!({"type": "ALREADY_USED", "value": null, "count": null, "used": null})
    );
    // A wrong one.
    assert_eq!(
        decode("1", &[], "588224012"),
        json!({"type": "INVALID", "value": null, "count": null, "used": null})
    );
    // Restricted and extended.
    assert_eq!(
        decode(
            "1",
            &["--used=1", "--restricted-digits", "--extended"],
            "33131421441234431131"
        ),
        json!({"type": "DISABLE_PAYG", "value": 998, "count": 3,
               "used": (-13..=3).collect::<Vec<i64>>()})
    );
}

#[test]
fn decode_takes_back_the_negative_used_counts_it_printed() {
    // A SET_TIME on a young device marks every count down to 16 below as used, which
    // reaches below zero.
    let set = generate("1", "set-time", &["--value", "5"]);
    let token = set["token"].as_str().unwrap();
    let decoded = decode("1", &["--used=1"], token);
    assert_eq!(decoded["type"], "SET_TIME");
    let used: Vec<i64> = serde_json::from_value(decoded["used"].clone()).unwrap();
    assert_eq!(used, (-13..=3).collect::<Vec<_>>());
    let list = used
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");

    // The ADD_TIME token at count 2, minted before the SET_TIME, is now closed; both
    // spellings of the flag accept the negative list.
    let older = generate("1", "add-time", &["--value", "1"]);
    let older = older["token"].as_str().unwrap();
    let refused = json!({"type": "ALREADY_USED", "value": null, "count": null, "used": null});
    assert_eq!(decode("3", &[&format!("--used={list}")], older), refused);
    assert_eq!(decode("3", &["--used", &list], older), refused);
    // The next one is fine, and its list keeps the negative counts in the window.
    let next = generate("3", "add-time", &["--value", "2"]);
    let next_token = next["token"].as_str().unwrap();
    let decoded = decode("3", &["--used", &list], next_token);
    assert_eq!(decoded["type"], "ADD_TIME");
    assert_eq!(decoded["count"], 4);
    assert_eq!(decoded["used"], json!((-12..=4).collect::<Vec<i64>>()));
}

#[test]
fn bad_arguments_fail_with_a_message() {
    let base = |key: &'static str, extra: &[&'static str]| {
        let mut args = vec![
            "decode",
            "--key",
            key,
            "--starting-code",
            START,
            "--count",
            "1",
        ];
        args.extend_from_slice(extra);
        args
    };
    // Keys.
    let err = failure(&base("bc41ec95", &["588224011"]));
    assert!(err.contains("32 hexadecimal digits"), "{err}");
    let err = failure(&base("zc41ec9530f6dac86b1a29ab82edc5fb", &["588224011"]));
    assert!(err.contains("32 hexadecimal digits"), "{err}");
    // Tokens.
    let err = failure(&base(KEY, &["58822401"]));
    assert!(err.contains("must have 9 digits"), "{err}");
    let err = failure(&base(KEY, &["--extended", "588224011"]));
    assert!(err.contains("must have 12 digits"), "{err}");
    let err = failure(&base(KEY, &["58822401x"]));
    assert!(err.contains("only the digits 0 to 9"), "{err}");
    let err = failure(&base(KEY, &["--restricted-digits", "314114432231135"]));
    assert!(err.contains("only the digits 1 to 4"), "{err}");
    let err = failure(&base(KEY, &["--used", "1,x", "588224011"]));
    assert!(err.contains("is not a count"), "{err}");
    // Starting code.
    let err = failure(&[
        "generate",
        "--key",
        KEY,
        "--starting-code",
        "1234567890",
        "--count",
        "1",
        "--type",
        "counter-sync",
    ]);
    assert!(err.contains("at most 9 digits"), "{err}");
    // Values.
    let gen = |kind: &'static str, extra: &[&'static str]| {
        let mut args = vec![
            "generate",
            "--key",
            KEY,
            "--starting-code",
            START,
            "--count",
            "1",
            "--type",
            kind,
        ];
        args.extend_from_slice(extra);
        failure(&args)
    };
    assert!(gen("add-time", &[]).contains("ADD_TIME tokens need a value"));
    assert!(gen("set-time", &[]).contains("SET_TIME tokens need a value"));
    assert!(gen("disable-payg", &["--value", "3"]).contains("take no value"));
    assert!(gen("add-time", &["--value", "996"]).contains("largest this format carries (995)"));
    assert!(gen("set-time", &["--value", "998", "--extended"]).contains("DISABLE_PAYG"));
    assert!(gen("unlock", &[]).contains("invalid value 'unlock'"));
}
