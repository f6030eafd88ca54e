//! The synthetic portfolio behind `bench scheduler`: one lender in Nairobi, N phones, each
//! with one active contract of 12 monthly KES installments, its M-Pesa payments, the
//! notices already queued and, for a few, an open dispute.
//!
//! Every record is a pure function of the contract's index (ids included), so a sample can
//! be regenerated later and compared field by field with what the store reads back, and a
//! cached database can be checked against the generator that built it.

use anyhow::Context;
use jiff::civil::{date, Date};
use jiff::tz::TimeZone;
use jiff::ToSpan;
use lienlock_domain::{
    zone, ContractId, ContractState, ContractTerms, Currency, DeviceId, DeviceState, DisputeId,
    EntryKind, Imei, Installment, KeyStatus, LenderId, NoticeId, NoticeKind, PaymentId,
    RestrictionLevel, ScheduleSpec, Standing, TermsSpec, Timestamp,
};
use lienlock_store::{
    Actor, Arrears, ContractRecord, Device, DisputeRecord, NoticeRecord, PaymentRecord,
};
use lienlock_store_sql::bench::Batch;

/// Bump whenever what [`Portfolio::generate`] makes changes: a database cached by another
/// version is rebuilt, not reused.
pub const GENERATOR: u32 = 2;

/// The lender's (and the devices') zone: East Africa Time, UTC+3, no daylight saving.
pub const ZONE: &str = "Africa/Nairobi";

const DAY_MS: i64 = 24 * 3600 * 1000;
const HOUR_MS: i64 = 3600 * 1000;
/// Phone prices financed, in KES minor units (12,000 to 36,000 shillings).
const FINANCED: [i64; 4] = [1_200_000, 1_800_000, 2_400_000, 3_600_000];
const MODELS: [&str; 4] = [
    "Tecno Spark 20",
    "Samsung Galaxy A15",
    "Infinix Hot 40",
    "itel A70",
];

/// How a borrower has behaved, which decides the ledger, the device's level and the notices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Every installment due so far paid on time (40%).
    Current,
    /// Paid everything early; the pass releases the phone (2%).
    PaidOff,
    /// Missed the latest installment; some had a payment bounce (18%).
    Late,
    /// Two or three installments behind, banner shown, some already given a lock notice (25%).
    Behind,
    /// Paid the first installment only; apps restricted, lock notice delivered (10%).
    Stopped,
    /// Missed the latest installment and disputes it (5%).
    Disputed,
}

impl Behaviour {
    fn of(h: u64) -> Self {
        match (h >> 24) % 100 {
            0..=39 => Behaviour::Current,
            40..=41 => Behaviour::PaidOff,
            42..=59 => Behaviour::Late,
            60..=84 => Behaviour::Behind,
            85..=94 => Behaviour::Stopped,
            _ => Behaviour::Disputed,
        }
    }
}

/// One contract of the portfolio, as the store would hold it.
#[derive(Debug)]
pub struct Generated {
    /// The phone.
    pub device: Device,
    /// Its contract.
    pub contract: ContractRecord,
    /// The ledger, in `(received_at, id)` order.
    pub payments: Vec<PaymentRecord>,
    /// Notices already queued, in `seq` order.
    pub notices: Vec<NoticeRecord>,
    /// Disputes.
    pub disputes: Vec<DisputeRecord>,
    /// How the borrower behaved.
    pub behaviour: Behaviour,
}

/// The portfolio's parameters and the terms it draws from.
#[derive(Debug)]
pub struct Portfolio {
    contracts: u64,
    due: u64,
    lender: LenderId,
    now: Timestamp,
    today: Date,
    zone: TimeZone,
    /// Every (start month, day of month, price) combination, built once: validating terms
    /// and building their schedule per contract would dominate generation.
    shapes: Vec<ContractTerms>,
}

/// The benchmark's "now": 10:00 in Nairobi on 2026-11-22, outside every quiet-hours window,
/// so restrictions can start.
pub fn bench_now() -> anyhow::Result<Timestamp> {
    let tz = zone::lookup(ZONE)?;
    zone::at_minute(date(2026, 11, 22), 10 * 60, &tz).context("10:00 in Nairobi")
}

impl Portfolio {
    /// `contracts` contracts of `lender`, `due_percent` of them due at `now`.
    pub fn new(
        contracts: u64,
        due_percent: f64,
        lender: LenderId,
        now: Timestamp,
    ) -> anyhow::Result<Self> {
        let zone = zone::lookup(ZONE)?;
        let today = zone::local(now, &zone).date();
        let kes = Currency::parse("KES")?;
        let mut shapes = Vec::with_capacity(10 * 28 * FINANCED.len());
        for month in 1..=10i8 {
            for day in 1..=28i8 {
                for financed in FINANCED {
                    let terms = ContractTerms::new(TermsSpec {
                        currency: kes,
                        financed,
                        down_payment: financed / 5,
                        fees: financed * 12 / 100,
                        schedule: ScheduleSpec::Monthly {
                            first_due: date(2026, month, day),
                            day_of_month: day as u8,
                            count: 12,
                        },
                        time_zone: ZONE.into(),
                    })
                    .context("building contract terms")?;
                    shapes.push(terms);
                }
            }
        }
        Ok(Self {
            contracts,
            due: (contracts as f64 * due_percent / 100.0).round() as u64,
            lender,
            now,
            today,
            zone,
            shapes,
        })
    }

    /// The lender owning everything.
    pub fn lender(&self) -> LenderId {
        self.lender
    }

    /// How many contracts.
    pub fn contracts(&self) -> u64 {
        self.contracts
    }

    /// How many contracts are due at [`Self::now`].
    pub fn due(&self) -> u64 {
        self.due
    }

    /// The benchmark's "now".
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Whether contract `i` is due now: exactly [`Self::due`] of them, evenly spread, so
    /// the due rows are scattered over the whole table as in a real portfolio.
    pub fn is_due(&self, i: u64) -> bool {
        let (i, n, d) = (
            u128::from(i),
            u128::from(self.contracts),
            u128::from(self.due),
        );
        (i + 1) * d / n > i * d / n
    }

    /// Appends contract `i` and everything hanging off it to `batch`.
    pub fn add_to(&self, i: u64, batch: &mut Batch) -> anyhow::Result<()> {
        let g = self.generate(i)?;
        batch.devices.push(g.device);
        batch.contracts.push(g.contract);
        batch.payments.extend(g.payments);
        batch.notices.extend(g.notices);
        batch.disputes.extend(g.disputes);
        Ok(())
    }

    /// Contract `i`.
    pub fn generate(&self, i: u64) -> anyhow::Result<Generated> {
        let h = mix(i);
        let behaviour = Behaviour::of(h);
        let terms = self.shapes[(h % self.shapes.len() as u64) as usize].clone();
        let installments = terms.installments().to_vec();
        let first_due = installments[0].due;
        // Signed in the shop a month before the first installment, during opening hours.
        let created_at = self
            .at(first_due.checked_sub(30.days())?, 11 * 60)?
            .plus_millis((h % 3600) as i64 * 1000);
        let fell_due = installments.iter().filter(|x| x.due <= self.today).count();
        let paid = match behaviour {
            Behaviour::Current => fell_due,
            Behaviour::PaidOff => installments.len(),
            Behaviour::Late | Behaviour::Disputed => fell_due - 1,
            Behaviour::Behind => fell_due.saturating_sub(2 + (h >> 40) as usize % 2),
            Behaviour::Stopped => fell_due.min(1),
        };

        let device_id = DeviceId::from_bytes(id_bytes(created_at, 1, i));
        let contract_id = ContractId::from_bytes(id_bytes(created_at, 2, i));
        let ledger = Ledger {
            portfolio: self,
            i,
            h,
            contract: contract_id,
        };
        let payments = ledger.payments(&installments, paid, behaviour)?;

        let first_missed = installments.get(paid).map(|x| x.due);
        let (level, since, notices) = self.device_history(h, behaviour, first_missed)?;
        let notices: Vec<NoticeRecord> = notices
            .into_iter()
            .enumerate()
            .map(|(n, (kind, created))| NoticeRecord {
                id: NoticeId::from_bytes(id_bytes(created, 4, i * 4 + n as u64)),
                lender_id: self.lender,
                device_id,
                contract_id: Some(contract_id),
                seq: n as u64 + 1,
                kind: kind.as_str().to_owned(),
                message: format!("Simu Credit: notice {} about your phone loan.", n + 1),
                created_at: created,
                delivered_at: Some(created.plus_millis(20 * 60 * 1000)),
            })
            .collect();
        let disputes = match behaviour {
            Behaviour::Disputed => {
                let opened_at = self.now.plus_millis(-2 * DAY_MS);
                vec![DisputeRecord {
                    id: DisputeId::from_bytes(id_bytes(opened_at, 5, i)),
                    lender_id: self.lender,
                    device_id,
                    contract_id: Some(contract_id),
                    opened_by: Actor::Device,
                    reason: "I paid at the shop; the agent has my receipt.".into(),
                    opened_at,
                    temporary_unlock_until: None,
                    closed_at: None,
                    closed_by: None,
                    resolution: None,
                }]
            }
            _ => Vec::new(),
        };

        // Phones check in every 15 minutes; this one was last seen within that.
        let last_seen = self
            .now
            .plus_millis(-(((h >> 8) % (15 * 60)) as i64) * 1000);
        let counter = 100 + (h >> 20) % 5000;
        // What the engine's last evaluation left on the device, so a pass changes nothing
        // it would not have changed anyway.
        let entries: Vec<_> = payments.iter().map(PaymentRecord::ledger_entry).collect();
        let arrears = Arrears::of(
            &Standing::compute(&installments, &entries, self.today),
            &terms,
        );
        let device = Device {
            id: device_id,
            lender_id: self.lender,
            imei: imei(35, i)?,
            // Every other phone is dual-SIM.
            imei2: if i % 2 == 1 { None } else { Some(imei(86, i)?) },
            serial: Some(format!("R58{i:09}")),
            model: Some(MODELS[(h >> 12) as usize % MODELS.len()].to_owned()),
            state: DeviceState::Active,
            key_status: KeyStatus::Bound,
            device_key: Some(bytes32(h ^ 0x006b_6579)),
            pending_key: None,
            last_counter: counter,
            pending_counter: 0,
            retired_key: None,
            retired_counter: 0,
            lease_seq: counter / 4 + 1,
            policy_level: level,
            policy_level_since: since,
            notice_seq: notices.len() as u64,
            arrears,
            last_seen_at: Some(last_seen),
            enrolled_at: created_at,
            updated_at: last_seen,
            version: counter as i64 + 2,
        };
        let contract = ContractRecord {
            id: contract_id,
            lender_id: self.lender,
            device_id,
            reference: Some(format!("SC-{i:08}")),
            terms,
            policy: None,
            state: ContractState::Active,
            created_at,
            updated_at: created_at,
            next_evaluation_at: Some(self.next_evaluation(i, h)?),
            version: 1 + payments.len() as i64,
            // Every payment woke the contract once.
            wake_seq: payments.len() as i64,
        };
        Ok(Generated {
            device,
            contract,
            payments,
            notices,
            disputes,
            behaviour,
        })
    }

    /// When the scheduler looks at contract `i` next. Due ones came due earlier today (the
    /// day turning, a payment's wake-up); the rest wait for the lender's next midnight, as
    /// the engine schedules a contract with nothing sooner to do, or for a hold that ends
    /// later today.
    fn next_evaluation(&self, i: u64, h: u64) -> anyhow::Result<Timestamp> {
        let midnight = zone::start_of_day(self.today, &self.zone).context("midnight")?;
        if self.is_due(i) {
            let since_midnight = (self.now.as_millis() - midnight.as_millis()).max(1);
            return Ok(midnight.plus_millis((h >> 8) as i64 % since_midnight));
        }
        if h & 3 != 0 {
            return zone::start_of_day(self.today.checked_add(1.days())?, &self.zone)
                .context("midnight");
        }
        Ok(self.now.plus_millis(1 + (h >> 8) as i64 % (12 * HOUR_MS)))
    }

    /// The device's level, since when, and the notices it has had (kind, created), all
    /// delivered.
    #[allow(clippy::type_complexity)]
    fn device_history(
        &self,
        h: u64,
        behaviour: Behaviour,
        first_missed: Option<Date>,
    ) -> anyhow::Result<(RestrictionLevel, Timestamp, Vec<(NoticeKind, Timestamp)>)> {
        let days_ago = |d: i64| self.now.plus_millis(-d * DAY_MS);
        // A later notice is never older than an earlier one.
        let after = |t: Timestamp, earlier: Timestamp| t.max(earlier.plus_millis(60 * 1000));
        // An overdue reminder four days after the first missed installment (never later
        // than yesterday).
        let reminder = match first_missed {
            Some(due) => self
                .at(due.checked_add(4.days())?, 9 * 60)?
                .min(days_ago(1)),
            None => days_ago(1),
        };
        let never = Timestamp::from_millis(0);
        Ok(match behaviour {
            Behaviour::Current | Behaviour::PaidOff | Behaviour::Late => {
                (RestrictionLevel::None, never, Vec::new())
            }
            Behaviour::Disputed => (
                RestrictionLevel::Reminder,
                days_ago(5),
                vec![(NoticeKind::OverdueReminder, reminder)],
            ),
            Behaviour::Behind => {
                let mut notices = vec![(NoticeKind::OverdueReminder, reminder)];
                // Half were given their lock notice three days ago, long enough before a
                // restriction; the pass restricts those and queues a notice for the rest.
                if (h >> 44) & 1 == 0 {
                    notices.push((NoticeKind::LockNotice, after(days_ago(3), reminder)));
                }
                (RestrictionLevel::PersistentBanner, days_ago(10), notices)
            }
            Behaviour::Stopped => (
                RestrictionLevel::RestrictedApps,
                days_ago(2),
                vec![
                    (NoticeKind::OverdueReminder, reminder),
                    (NoticeKind::LockNotice, after(days_ago(10), reminder)),
                ],
            ),
        })
    }

    /// `minute` past midnight of `day` in Nairobi.
    fn at(&self, day: Date, minute: u16) -> anyhow::Result<Timestamp> {
        zone::at_minute(day, minute, &self.zone).context("a time in Nairobi")
    }
}

/// One contract's ledger, as M-Pesa would have reported it.
struct Ledger<'a> {
    portfolio: &'a Portfolio,
    i: u64,
    h: u64,
    contract: ContractId,
}

impl Ledger<'_> {
    /// Installments `0..paid` paid around their due dates, or for [`Behaviour::PaidOff`]
    /// the ones due so far and then the rest in one sum; a late payer's last payment
    /// sometimes bounced.
    fn payments(
        &self,
        installments: &[Installment],
        paid: usize,
        behaviour: Behaviour,
    ) -> anyhow::Result<Vec<PaymentRecord>> {
        let p = self.portfolio;
        let mut out = Vec::with_capacity(paid + 2);
        for (j, x) in installments.iter().enumerate() {
            if x.due > p.today || j >= paid {
                break;
            }
            // Up to two days early, in the morning before the benchmark's 10:00.
            let early = ((self.h >> (j % 8 * 4)) % 3) as i64;
            let minute = 6 * 60 + ((self.h >> 32) as u16 % 180);
            let at = p.at(x.due.checked_sub(early.days())?, minute)?;
            out.push(self.entry(j as u64, at, x.amount, EntryKind::Payment));
        }
        if behaviour == Behaviour::PaidOff {
            let rest: i64 = installments[out.len()..].iter().map(|x| x.amount).sum();
            // Two days ago, or just after the last installment if that was later.
            let last = out
                .last()
                .map_or(Timestamp::from_millis(0), |x| x.received_at);
            let at = p
                .now
                .plus_millis(-2 * DAY_MS)
                .max(last.plus_millis(30 * 60 * 1000));
            out.push(self.entry(14, at, rest, EntryKind::Payment));
        }
        if behaviour == Behaviour::Late && matches!((self.h >> 40) % 3, 0) {
            if let Some(x) = installments.get(paid) {
                // Paid the day before it was due; reversed that afternoon.
                let at = p.at(x.due.checked_sub(1.days())?, 9 * 60)?;
                let bounced = self.entry(12, at, x.amount, EntryKind::Payment);
                let of = bounced.id;
                out.push(bounced);
                out.push(self.entry(
                    13,
                    at.plus_millis(6 * HOUR_MS),
                    x.amount,
                    EntryKind::Reversal { of },
                ));
            }
        }
        Ok(out)
    }

    /// Entry `j` of this contract (j < 16).
    fn entry(&self, j: u64, received_at: Timestamp, amount: i64, kind: EntryKind) -> PaymentRecord {
        let n = self.i * 16 + j;
        PaymentRecord {
            id: PaymentId::from_bytes(id_bytes(received_at, 3, n)),
            lender_id: self.portfolio.lender,
            contract_id: Some(self.contract),
            kind,
            amount,
            currency: self.portfolio.shapes[0].currency(),
            received_at,
            recorded_at: received_at.plus_millis(60 * 1000),
            channel: "mpesa".into(),
            // M-Pesa receipt codes: ten characters, unique per lender and channel.
            external_ref: Some(receipt(n)),
            payer_hint: None,
            idempotency_key: None,
            request_hash: bytes32(mix(n ^ 0x7265_7175)),
            assigned_at: None,
        }
    }
}

/// A UUIDv7 (the store's id format) for record `n` of kind `tag` made at `at`: the time
/// first, as in a real v7, so text order is still roughly creation order.
fn id_bytes(at: Timestamp, tag: u8, n: u64) -> [u8; 16] {
    let ms = at.as_millis().max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70 | (tag & 0x0f);
    b[8] = 0x80 | ((n >> 56) as u8 & 0x3f);
    b[9..].copy_from_slice(&n.to_be_bytes()[1..]);
    b
}

/// A valid, unique IMEI for phone `i`: an 8-digit TAC starting with `prefix`, a 6-digit
/// serial, the Luhn digit.
fn imei(prefix: u8, i: u64) -> anyhow::Result<Imei> {
    let body = format!(
        "{prefix:02}{:06}{:06}",
        100_000 + i / 1_000_000,
        i % 1_000_000
    );
    Imei::from_body(&body).with_context(|| format!("IMEI body {body}"))
}

/// An M-Pesa-like receipt code: `S`, three letters from a hash, then `n` in base 36 (six
/// digits up to 36^6 entries), so codes look random but never collide.
fn receipt(n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let base36 = |mut v: u64, width: usize| {
        let mut s = Vec::new();
        while v > 0 || s.len() < width {
            s.push(DIGITS[(v % 36) as usize]);
            v /= 36;
        }
        s.reverse();
        String::from_utf8_lossy(&s).into_owned()
    };
    format!("S{}{}", base36(mix(n) % 36u64.pow(3), 3), base36(n, 6))
}

fn bytes32(seed: u64) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (k, chunk) in b.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(seed.wrapping_add(k as u64)).to_le_bytes());
    }
    b
}

/// SplitMix64: a fixed, well-mixed function of the index, so every choice is reproducible.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portfolio(n: u64, pct: f64) -> Portfolio {
        Portfolio::new(n, pct, LenderId::new(), bench_now().unwrap()).unwrap()
    }

    #[test]
    fn exactly_the_due_share_is_due() {
        let p = portfolio(10_000, 1.0);
        assert_eq!((0..10_000).filter(|&i| p.is_due(i)).count(), 100);
        let p = portfolio(1_000, 0.1);
        assert_eq!((0..1_000).filter(|&i| p.is_due(i)).count(), 1);
    }

    #[test]
    fn generation_is_reproducible_and_consistent() {
        let p = portfolio(2_000, 1.0);
        for i in 0..2_000 {
            let a = p.generate(i).unwrap();
            let b = p.generate(i).unwrap();
            assert_eq!(a.contract, b.contract);
            assert_eq!(a.payments, b.payments);
            let next = a.contract.next_evaluation_at.unwrap();
            assert_eq!(next <= p.now(), p.is_due(i), "contract {i}");
            assert_eq!(a.device.notice_seq as usize, a.notices.len());
            // The store reads a ledger back in (received_at, id) order.
            let mut sorted = a.payments.clone();
            sorted.sort_by_key(|x| (x.received_at, x.id));
            assert_eq!(sorted, a.payments, "contract {i}");
            assert!(a.payments.iter().all(|x| x.received_at < p.now()));
        }
    }
}
