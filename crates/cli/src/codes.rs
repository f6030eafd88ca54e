//! `lienlock codes`: offline codes, minted and checked without a server. One subcommand per
//! code format (today OpenPAYGO Token; lienlock's own format joins it as `codes lienlock`).
//! Each prints exactly one JSON line, so scripts and other implementations can compare.

use clap::{Args, Subcommand, ValueEnum};
use lienlock_wire::openpaygo::{self, Format, Key, StartingCode, TokenType};
use serde::Serialize;
use std::str::FromStr;

/// Offline code formats.
#[derive(Debug, Subcommand)]
pub enum CodesCommand {
    /// OpenPAYGO Token, the open standard pay-as-you-go devices accept.
    #[command(subcommand)]
    Openpaygo(OpenpaygoCommand),
}

/// `codes openpaygo`.
#[derive(Debug, Subcommand)]
pub enum OpenpaygoCommand {
    /// Mint the token that follows --count; prints {"new_count", "token"}.
    Generate(GenerateArgs),
    /// Check a token as the device would; prints {"type", "value", "count", "used"}.
    Decode(DecodeArgs),
}

/// What server and device share about one device.
#[derive(Debug, Args)]
pub struct DeviceArgs {
    /// The device's secret key: 32 hexadecimal digits.
    #[arg(long, value_name = "HEX")]
    key: Key,
    /// The device's 9-digit starting code.
    #[arg(long, value_name = "N")]
    starting_code: StartingCode,
    /// Tokens use only the digits 1 to 4 (four-key keypads).
    #[arg(long)]
    restricted_digits: bool,
    /// Extended tokens: 12 digits carrying a 6-digit value.
    #[arg(long)]
    extended: bool,
}

impl DeviceArgs {
    fn format(&self) -> Format {
        Format {
            restricted_digits: self.restricted_digits,
            extended: self.extended,
        }
    }
}

/// `codes openpaygo generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// The count the server last used for this device.
    #[arg(long, value_name = "N")]
    count: u32,
    /// What the token does.
    #[arg(long = "type", value_name = "TYPE")]
    kind: KindArg,
    /// Days for add-time and set-time (none for the other types).
    #[arg(long, value_name = "N")]
    value: Option<u32>,
}

/// `codes openpaygo decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    #[command(flatten)]
    device: DeviceArgs,
    /// The device's count (the highest it accepted).
    #[arg(long, value_name = "N")]
    count: u32,
    /// The device's used counts, as a previous decode printed them (may be empty or
    /// negative: --used=-15,-14,1).
    #[arg(long, value_name = "N,N,...", allow_hyphen_values = true)]
    used: Option<UsedList>,
    /// The token as entered (digits only).
    token: String,
}

/// `--type`.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum KindArg {
    AddTime,
    SetTime,
    DisablePayg,
    CounterSync,
}

impl From<KindArg> for TokenType {
    fn from(kind: KindArg) -> Self {
        match kind {
            KindArg::AddTime => Self::AddTime,
            KindArg::SetTime => Self::SetTime,
            KindArg::DisablePayg => Self::DisablePayg,
            KindArg::CounterSync => Self::CounterSync,
        }
    }
}

/// `--used`: comma-separated counts, possibly none.
#[derive(Clone, Debug, Default)]
struct UsedList(Vec<i64>);

impl FromStr for UsedList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        s.split(',')
            .map(|n| {
                n.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("{n:?} is not a count (expected N,N,...)"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }
}

/// The line `generate` prints.
#[derive(Debug, Serialize)]
struct GenerateOutput {
    new_count: u32,
    token: String,
}

/// The line `decode` prints: the reference's `decode_token` result, named.
#[derive(Debug, Serialize)]
struct DecodeOutput {
    r#type: &'static str,
    value: Option<u32>,
    count: Option<u32>,
    used: Option<Vec<i64>>,
}

/// Runs a `codes` command.
pub fn run(cmd: CodesCommand) -> anyhow::Result<()> {
    match cmd {
        CodesCommand::Openpaygo(cmd) => run_openpaygo(cmd),
    }
}

fn run_openpaygo(cmd: OpenpaygoCommand) -> anyhow::Result<()> {
    let line = match cmd {
        OpenpaygoCommand::Generate(a) => {
            let minted = openpaygo::generate(
                &a.device.key,
                a.device.starting_code,
                a.count,
                a.kind.into(),
                a.value,
                a.device.format(),
            )?;
            serde_json::to_string(&GenerateOutput {
                new_count: minted.new_count,
                token: minted.token,
            })?
        }
        OpenpaygoCommand::Decode(a) => {
            let used = a.used.unwrap_or_default();
            let decoded = openpaygo::decode(
                &a.device.key,
                a.device.starting_code,
                a.count,
                &used.0,
                &a.token,
                a.device.format(),
            )?;
            serde_json::to_string(&DecodeOutput {
                r#type: decoded.kind.as_str(),
                value: decoded.value,
                count: decoded.count,
                used: decoded.used.map(|u| u.to_list()),
            })?
        }
    };
    println!("{line}");
    Ok(())
}
