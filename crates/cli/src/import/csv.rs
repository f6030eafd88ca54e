//! Reading the statement: the header's columns, and each row as a request. The CSV syntax
//! is read by `lienlock_domain::csv`.

use super::*;

// The reader itself is shared with the server's device import.
pub(super) use lienlock_domain::csv::parse as parse_csv;

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

#[cfg(test)]
mod tests {
    use super::*;

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
