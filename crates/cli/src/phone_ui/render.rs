//! The phone page as HTML: hand-written, every piece of text escaped on the way in.
//!
//! Stable ids for tests: `#screen` (`data-state`, `data-version`), `#lock-screen`,
//! `#lender-name`, `#amount-due`, `#imei`, `#emergency-call`, `#refresh`, `#code`,
//! `#code-submit`, `#paid-reason`, `#paid-submit`, `#banner`, `#language`,
//! `#language-submit`, `#result`.

use super::i18n::{Arg, Catalog, Lang};
use super::view::{when, Flash, PhoneView, Screen};
use lienlock_agent::LockReason;
use std::fmt::Write;

/// The longest "I already paid" note sent to the lender, in characters.
pub const MAX_REASON_CHARS: usize = 200;

pub use lienlock_server::html::escape as esc;

/// A `tel:` link target for a phone number as a lender typed it: digits and a leading `+`.
fn tel(number: &str) -> Option<String> {
    let mut out = String::new();
    for c in number.trim().chars() {
        match c {
            '+' if out.is_empty() => out.push('+'),
            '0'..='9' => out.push(c),
            ' ' | '-' | '(' | ')' | '.' => {}
            _ => return None,
        }
    }
    out.chars()
        .any(|c| c.is_ascii_digit())
        .then(|| format!("tel:{out}"))
}

/// The lender's support URL, as a link only when it is http(s): the lease is signed, but
/// its text is still the lender's, and no other scheme belongs on a lock screen.
fn web_link(url: &str) -> Option<&str> {
    let url = url.trim();
    (url.starts_with("https://") || url.starts_with("http://")).then_some(url)
}

/// Everything one page shows.
pub struct Page<'a> {
    /// The words.
    pub catalog: &'a Catalog,
    /// In which language.
    pub lang: Lang,
    /// The phone's state.
    pub view: &'a PhoneView,
    /// Its version, for the script that reloads on change.
    pub version: u64,
    /// The IMEI.
    pub imei: &'a str,
    /// A form's outcome to show once.
    pub flash: Option<&'a Flash>,
}

impl Page<'_> {
    fn t(&self, id: &str) -> String {
        esc(&self.catalog.text(self.lang, id, &[]))
    }

    fn t_args(&self, id: &str, args: &[(&str, Arg)]) -> String {
        esc(&self.catalog.text(self.lang, id, args))
    }

    /// The lender's name as messages use it; a lease always names one, and without a lease
    /// no message needs it, but a word is better than an empty gap.
    fn lender(&self) -> Arg {
        Arg::from(self.view.lender_name().unwrap_or("—"))
    }

    /// The whole document.
    pub fn html(&self) -> String {
        let mut h = String::with_capacity(8 * 1024);
        let lang = self.lang.code();
        let _ = write!(
            h,
            "<!doctype html>\n<html lang=\"{lang}\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<link rel=\"stylesheet\" href=\"/phone.css\">\n\
             <script src=\"/phone.js\" defer></script>\n</head>\n<body>\n",
            title = self.t("page-title"),
        );
        let screen = self.view.screen;
        let _ = writeln!(
            h,
            "<main id=\"screen\" class=\"phone {state}\" data-state=\"{state}\" \
             data-version=\"{version}\">",
            state = screen.name(),
            version = self.version,
        );
        match screen {
            Screen::Active => self.active(&mut h),
            Screen::Locked | Screen::NoLease => self.locked(&mut h),
            Screen::Free => self.free(&mut h),
        }
        self.footer(&mut h);
        h.push_str("</main>\n</body>\n</html>\n");
        h
    }

    fn result(&self, h: &mut String) {
        let Some(f) = self.flash else { return };
        let (role, class) = if f.ok {
            ("status", "result ok")
        } else {
            ("alert", "result refused")
        };
        let _ = writeln!(
            h,
            "<p id=\"result\" class=\"{class}\" role=\"{role}\">{}</p>",
            self.t_args(f.id, &f.args)
        );
    }

    fn active(&self, h: &mut String) {
        let v = self.view;
        let _ = writeln!(h, "<h1>{}</h1>", self.t("active-heading"));
        self.result(h);
        let lender = self.lender();
        let notices = !v.notices.is_empty();
        if notices || v.offline_warning || v.payment_banner {
            h.push_str("<section id=\"banner\" class=\"banner\" role=\"status\">\n");
            // Newest first: the one that matters now is on top.
            for n in v.notices.iter().rev() {
                let title = match n.kind.as_str() {
                    "due_reminder" => self.t("banner-due-reminder"),
                    "overdue_reminder" => self.t("banner-overdue-reminder"),
                    "lock_notice" => self.t("banner-lock-notice"),
                    "second_lock_notice" => self.t("banner-second-lock-notice"),
                    _ => self.t_args("banner-notice", &[("lender", lender.clone())]),
                };
                let _ = writeln!(
                    h,
                    "<div class=\"notice {kind}\"><h2>{title}</h2><p>{msg}</p></div>",
                    kind = esc(&n.kind.replace('_', "-")),
                    msg = esc(&n.message),
                );
            }
            if v.payment_banner && !notices {
                let _ = writeln!(h, "<p class=\"notice\">{}</p>", self.t("payment-banner"));
            }
            if v.offline_warning {
                let date = v.locks_at.map(when).unwrap_or_default();
                let _ = writeln!(
                    h,
                    "<p id=\"offline-warning\" class=\"notice offline\">{}</p>",
                    self.t_args("offline-warning", &[("date", date.into())])
                );
            }
            h.push_str("</section>\n");
        }
        if v.on_code && !v.offline_warning {
            let date = v.locks_at.map(when).unwrap_or_default();
            let _ = writeln!(
                h,
                "<p class=\"on-code\">{}</p>",
                self.t_args("active-on-code", &[("date", date.into())])
            );
        } else if !v.offline_warning {
            let _ = writeln!(h, "<p class=\"calm\">{}</p>", self.t("active-body"));
        }
        if v.offline_warning {
            self.code_form(h);
        }
        let lock_notice = v
            .notices
            .iter()
            .any(|n| n.kind == "lock_notice" || n.kind == "second_lock_notice");
        if lock_notice {
            self.paid_form(h);
        }
    }

    fn locked(&self, h: &mut String) {
        let v = self.view;
        let lender = self.lender();
        h.push_str("<section id=\"lock-screen\" class=\"lock\">\n");
        if v.screen == Screen::NoLease {
            let _ = writeln!(h, "<h1>{}</h1>", self.t("locked-no-lease-heading"));
            self.result(h);
            let _ = writeln!(h, "<p id=\"lock-reason\">{}</p>", self.t("locked-no-lease"));
            self.emergency(h);
            h.push_str("</section>\n");
            return;
        }
        let _ = writeln!(h, "<h1>{}</h1>", self.t("locked-heading"));
        self.result(h);
        if let Some(name) = v.lender_name() {
            let _ = writeln!(
                h,
                "<p class=\"lender\" id=\"lender-name\">{}</p>",
                esc(name)
            );
        }
        let why = match v.why {
            Some(LockReason::LeaseExpired) => "locked-expired",
            Some(LockReason::Lender | LockReason::NoLease) | None => "locked-by-lender",
        };
        let _ = writeln!(
            h,
            "<p id=\"lock-reason\">{}</p>",
            self.t_args(why, &[("lender", lender.clone())])
        );
        if let Some(due) = v.lender.as_ref().map(|l| l.amount_due.trim()) {
            if !due.is_empty() {
                let _ = writeln!(
                    h,
                    "<p class=\"due\"><span class=\"label\">{}</span> \
                     <strong id=\"amount-due\">{}</strong></p>",
                    self.t("amount-due"),
                    esc(due)
                );
            }
        }
        self.emergency(h);
        self.how_to_pay(h);
        self.code_form(h);
        self.paid_form(h);
        h.push_str("</section>\n");
    }

    /// The emergency call: always on a locked screen, always enabled, first in reach.
    fn emergency(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<p class=\"emergency\"><a id=\"emergency-call\" class=\"button sos\" \
             href=\"tel:112\">{}</a></p>\n<p class=\"hint\">{}</p>",
            self.t("emergency-call"),
            self.t("emergency-note"),
        );
    }

    fn how_to_pay(&self, h: &mut String) {
        let Some(ls) = &self.view.lender else { return };
        let lender = self.lender();
        let _ = writeln!(
            h,
            "<section class=\"pay\">\n<h2>{}</h2>",
            self.t("how-to-pay")
        );
        if !ls.message.trim().is_empty() {
            let _ = writeln!(
                h,
                "<p id=\"lock-message\" class=\"message\">{}</p>",
                esc(ls.message.trim())
            );
        }
        if let Some(url) = web_link(&ls.support_url) {
            let _ = writeln!(
                h,
                "<p><a id=\"support-url\" href=\"{href}\" rel=\"noopener noreferrer\">{label}</a><br>\
                 <span class=\"url\">{href}</span></p>",
                href = esc(url),
                label = self.t("pay-online"),
            );
        }
        if let Some(href) = tel(&ls.support_phone) {
            let _ = writeln!(
                h,
                "<p><a id=\"support-phone\" class=\"button secondary\" href=\"{href}\">{label}: \
                 {number}</a></p>",
                href = esc(&href),
                label = self.t_args("call-lender", &[("lender", lender)]),
                number = esc(ls.support_phone.trim()),
            );
        }
        h.push_str("</section>\n");
    }

    fn code_form(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<form class=\"code\" method=\"post\" action=\"/code\">\n<h2>{heading}</h2>\n\
             <label for=\"code\">{label}</label>\n\
             <input id=\"code\" name=\"code\" type=\"text\" inputmode=\"numeric\" \
             autocomplete=\"one-time-code\" maxlength=\"40\" required>\n\
             <button id=\"code-submit\" type=\"submit\">{submit}</button>\n</form>",
            heading = self.t("code-heading"),
            label = self.t("code-label"),
            submit = self.t("code-submit"),
        );
    }

    fn paid_form(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<form class=\"paid\" method=\"post\" action=\"/paid\">\n<h2>{heading}</h2>\n\
             <label for=\"paid-reason\">{label}</label>\n\
             <input id=\"paid-reason\" name=\"reason\" type=\"text\" maxlength=\"{max}\" \
             required>\n\
             <button id=\"paid-submit\" type=\"submit\">{submit}</button>\n\
             <p class=\"hint\">{note}</p>\n</form>",
            heading = self.t("paid-heading"),
            label = self.t("paid-label"),
            max = MAX_REASON_CHARS,
            submit = self.t("paid-submit"),
            note = self.t_args("paid-note", &[("lender", self.lender())]),
        );
    }

    fn free(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<h1>{}</h1>\n<p class=\"calm\">{}</p>",
            self.t("free-heading"),
            self.t("free-body")
        );
        self.result(h);
    }

    /// Refresh, IMEI and language, on every screen.
    fn footer(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<footer class=\"device\">\n\
             <form method=\"post\" action=\"/refresh\"><button id=\"refresh\" type=\"submit\" \
             class=\"secondary\">{refresh}</button></form>\n\
             <p class=\"imei\">{imei_label} <span id=\"imei\">{imei}</span></p>\n\
             <form class=\"language\" method=\"post\" action=\"/language\">\n\
             <label for=\"language\">{lang_label}</label>\n<select id=\"language\" name=\"language\">",
            refresh = self.t("refresh"),
            imei_label = self.t("imei-label"),
            imei = esc(self.imei),
            lang_label = self.t("language-label"),
        );
        for l in Lang::ALL {
            let selected = if l == self.lang { " selected" } else { "" };
            let _ = writeln!(
                h,
                "<option value=\"{code}\" lang=\"{code}\"{selected}>{name}</option>",
                code = l.code(),
                name = esc(l.native_name()),
            );
        }
        let _ = writeln!(
            h,
            "</select>\n<button id=\"language-submit\" type=\"submit\" class=\"secondary\">{}</button>\n\
             </form>\n</footer>",
            self.t("language-submit"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienlock_wire::{LeaseNotice, LockScreen};

    fn view(screen: Screen) -> PhoneView {
        PhoneView {
            screen,
            why: (screen == Screen::Locked).then_some(LockReason::Lender),
            lender: Some(LockScreen {
                lender_name: "Acme <Finance>".into(),
                support_phone: "+254 700 000000".into(),
                support_url: "https://acme.example/pay?a=1&b=2".into(),
                message: "Pay at any M-Pesa agent.".into(),
                amount_due: "KES 1,500.00".into(),
            }),
            notices: vec![],
            payment_banner: false,
            offline_warning: false,
            on_code: false,
            locks_at: None,
        }
    }

    fn page(v: &PhoneView, lang: Lang, flash: Option<&Flash>) -> String {
        let catalog = Catalog::load();
        Page {
            catalog: &catalog,
            lang,
            view: v,
            version: 7,
            imei: "490154203237518",
            flash,
        }
        .html()
    }

    fn count(h: &str, needle: &str) -> usize {
        h.matches(needle).count()
    }

    #[test]
    fn lock_screen_shows_who_what_and_the_emergency_call() {
        let h = page(&view(Screen::Locked), Lang::Sw, None);
        assert!(h.contains("<html lang=\"sw\">"));
        assert!(h.contains("data-state=\"locked\""));
        assert!(h.contains("data-version=\"7\""));
        assert!(h.contains("id=\"lock-screen\""));
        assert!(h.contains("Acme &lt;Finance&gt;"), "escaped: {h}");
        assert!(!h.contains("<Finance>"));
        assert!(h.contains("<strong id=\"amount-due\">KES 1,500.00</strong>"));
        assert!(h.contains("href=\"tel:112\""));
        assert!(h.contains("href=\"tel:+254700000000\""));
        assert!(h.contains("href=\"https://acme.example/pay?a=1&amp;b=2\""));
        assert!(h.contains("Simu hii imefungwa"));
        assert!(h.contains("<span id=\"imei\">490154203237518</span>"));
        assert_eq!(count(&h, "<h1>"), 1);
        // Every input and select has its label.
        for id in ["code", "paid-reason", "language"] {
            assert!(h.contains(&format!("<label for=\"{id}\">")), "{id}");
        }
        for id in [
            "emergency-call",
            "refresh",
            "code-submit",
            "paid-submit",
            "language-submit",
        ] {
            assert_eq!(count(&h, &format!("id=\"{id}\"")), 1, "{id}");
        }
        assert!(!h.contains("<script>"), "no inline script");
        assert!(!h.contains("style="), "no inline style");
    }

    #[test]
    fn amount_due_only_when_there_is_one_and_odd_links_stay_text() {
        let mut v = view(Screen::Locked);
        let ls = v.lender.as_mut().unwrap();
        ls.amount_due.clear();
        ls.support_url = "javascript:alert(1)".into();
        ls.support_phone = "call us".into();
        let h = page(&v, Lang::En, None);
        assert!(!h.contains("amount-due"));
        assert!(!h.contains("javascript:"));
        assert!(!h.contains("support-phone"));
        assert!(h.contains("Emergency call"));
    }

    #[test]
    fn active_screen_banners_and_results() {
        let mut v = view(Screen::Active);
        v.why = None;
        v.notices = vec![LeaseNotice {
            seq: 1,
            kind: "lock_notice".into(),
            message: "Locks on 5 March unless paid.".into(),
        }];
        v.offline_warning = true;
        v.locks_at = Some(lienlock_domain::Timestamp::from_millis(1_772_719_200_000));
        let flash = Flash::refused("code-typo", vec![]);
        let h = page(&v, Lang::Es, Some(&flash));
        assert!(h.contains("data-state=\"active\""));
        assert!(h.contains("id=\"banner\""));
        assert!(h.contains("Aviso de bloqueo"));
        assert!(h.contains("2026-03-05 14:00 UTC"));
        assert!(h.contains("id=\"result\" class=\"result refused\" role=\"alert\""));
        assert!(h.contains("id=\"code\""), "offline: the code form shows");
        assert!(h.contains("id=\"paid-reason\""), "lock notice: can dispute");
        assert!(!h.contains("lock-screen"));
        assert!(!h.contains("emergency-call"));
    }

    #[test]
    fn free_and_no_lease() {
        let h = page(&view(Screen::Free), Lang::Pt, None);
        assert!(h.contains("data-state=\"free\""));
        assert!(h.contains("Este celular é seu"));
        let mut v = view(Screen::NoLease);
        v.lender = None;
        let h = page(&v, Lang::Hi, None);
        assert!(h.contains("data-state=\"no-lease\""));
        assert!(h.contains("id=\"emergency-call\""));
    }

    #[test]
    fn escaping_and_tel() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(tel("+1 (555) 010-0"), Some("tel:+15550100".into()));
        assert_eq!(tel("12+3"), None);
        assert_eq!(tel(""), None);
    }
}
