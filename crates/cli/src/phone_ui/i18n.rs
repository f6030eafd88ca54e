//! The phone page's words in six languages, with Project Fluent.
//!
//! Each language is one `.ftl` file under `crates/cli/locales/`, compiled into the binary.
//! A message missing from a language (the tests forbid it) falls back to English, and a
//! message missing from English shows its id, so a slip never blanks the lock screen.

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use serde::{Deserialize, Serialize};
use unic_langid::{langid, LanguageIdentifier};

/// A language the phone speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// Hindi.
    Hi,
    /// Swahili.
    Sw,
    /// Spanish.
    Es,
    /// Portuguese.
    Pt,
    /// Indonesian.
    Id,
}

impl Lang {
    /// Every language, in the order the selector lists them.
    pub const ALL: [Lang; 6] = [Lang::En, Lang::Hi, Lang::Sw, Lang::Es, Lang::Pt, Lang::Id];

    /// The BCP 47 code (`<html lang>`, the selector's values, `settings.json`).
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Hi => "hi",
            Lang::Sw => "sw",
            Lang::Es => "es",
            Lang::Pt => "pt",
            Lang::Id => "id",
        }
    }

    /// The language's name in itself, as the selector shows it: someone who cannot read
    /// the current language must still find their own.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Hi => "हिन्दी",
            Lang::Sw => "Kiswahili",
            Lang::Es => "Español",
            Lang::Pt => "Português",
            Lang::Id => "Bahasa Indonesia",
        }
    }

    /// The language with this code.
    pub fn from_code(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    fn id(self) -> LanguageIdentifier {
        match self {
            Lang::En => langid!("en"),
            Lang::Hi => langid!("hi"),
            Lang::Sw => langid!("sw"),
            Lang::Es => langid!("es"),
            Lang::Pt => langid!("pt"),
            Lang::Id => langid!("id"),
        }
    }

    /// The language's Fluent source.
    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../../locales/en/phone.ftl"),
            Lang::Hi => include_str!("../../locales/hi/phone.ftl"),
            Lang::Sw => include_str!("../../locales/sw/phone.ftl"),
            Lang::Es => include_str!("../../locales/es/phone.ftl"),
            Lang::Pt => include_str!("../../locales/pt/phone.ftl"),
            Lang::Id => include_str!("../../locales/id/phone.ftl"),
        }
    }
}

/// A value for a message's variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Text: a name, a date, a reference.
    Text(String),
    /// A count, which a message may pick a plural form by.
    Number(u64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Self {
        Arg::Text(s.to_owned())
    }
}

impl From<String> for Arg {
    fn from(s: String) -> Self {
        Arg::Text(s)
    }
}

impl From<u64> for Arg {
    fn from(n: u64) -> Self {
        Arg::Number(n)
    }
}

type Bundle = FluentBundle<FluentResource>;

/// All six languages, loaded once.
pub struct Catalog {
    bundles: Vec<(Lang, Bundle)>,
}

impl Catalog {
    /// Parses every language's file. The files are part of the binary and the tests parse
    /// them all, so a syntax error here is a build that should never have shipped: the
    /// entries that do parse are kept and the error is logged.
    pub fn load() -> Self {
        let bundles = Lang::ALL
            .into_iter()
            .map(|lang| (lang, bundle(lang)))
            .collect();
        Self { bundles }
    }

    fn bundle(&self, lang: Lang) -> &Bundle {
        self.bundles
            .iter()
            .find(|(l, _)| *l == lang)
            .map(|(_, b)| b)
            .unwrap_or(&self.bundles[0].1)
    }

    /// `id` in `lang`, with `args`.
    pub fn text(&self, lang: Lang, id: &str, args: &[(&str, Arg)]) -> String {
        if let Some(s) = format(self.bundle(lang), id, args) {
            return s;
        }
        if lang != Lang::En {
            if let Some(s) = format(self.bundle(Lang::En), id, args) {
                tracing::warn!(lang = lang.code(), id, "message missing; showing English");
                return s;
            }
        }
        tracing::warn!(id, "message missing");
        id.to_owned()
    }
}

fn bundle(lang: Lang) -> Bundle {
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(r) => r,
        Err((r, errors)) => {
            tracing::error!(lang = lang.code(), ?errors, "phone.ftl does not parse");
            r
        }
    };
    let mut b = FluentBundle::new_concurrent(vec![lang.id()]);
    // The page is HTML with `lang` set; the isolation marks Fluent puts around variables
    // would only show up as stray characters in tests and in copied text.
    b.set_use_isolating(false);
    if let Err(errors) = b.add_resource(resource) {
        tracing::error!(
            lang = lang.code(),
            ?errors,
            "phone.ftl has duplicate messages"
        );
    }
    b
}

/// The message, or `None` when the bundle does not have it. Formatting errors (a variable
/// not given) are logged; Fluent still returns text, with the variable's name in braces.
fn format(b: &Bundle, id: &str, args: &[(&str, Arg)]) -> Option<String> {
    let pattern = b.get_message(id)?.value()?;
    let mut fargs = FluentArgs::new();
    for (name, value) in args {
        match value {
            Arg::Text(s) => fargs.set(*name, FluentValue::from(s.as_str())),
            Arg::Number(n) => fargs.set(*name, FluentValue::from(*n)),
        }
    }
    let mut errors = Vec::new();
    let s = b.format_pattern(pattern, Some(&fargs), &mut errors);
    if !errors.is_empty() {
        tracing::warn!(id, ?errors, "message formatted with errors");
    }
    Some(s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    /// Message ids and the variables each uses, read from the source: a message starts at
    /// the beginning of a line with `id =`, and runs until the next one.
    fn messages(lang: Lang) -> BTreeMap<String, BTreeSet<String>> {
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut current = None;
        for line in lang.source().lines() {
            let starts_message = line.starts_with(|c: char| c.is_ascii_lowercase());
            if starts_message {
                let (id, _) = line.split_once('=').expect("a message line has `=`");
                let id = id.trim().to_owned();
                assert!(
                    out.insert(id.clone(), BTreeSet::new()).is_none(),
                    "{}: {id} twice",
                    lang.code()
                );
                current = Some(id);
            } else if line.starts_with('#') || line.trim().is_empty() {
                if line.starts_with('#') {
                    current = None;
                }
                continue;
            }
            let Some(id) = &current else { continue };
            let vars = out.get_mut(id).unwrap();
            for part in line.split('$').skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                vars.insert(name);
            }
        }
        out
    }

    fn sample_args(vars: &BTreeSet<String>, n: u64) -> Vec<(&str, Arg)> {
        vars.iter()
            .map(|v| {
                let arg = match v.as_str() {
                    "minutes" | "digits" => Arg::Number(n),
                    "date" => Arg::from("2026-03-05 14:00 UTC"),
                    "lender" => Arg::from("Acme Finance"),
                    _ => Arg::from("D-7781"),
                };
                (v.as_str(), arg)
            })
            .collect()
    }

    #[test]
    fn every_file_parses_and_has_exactly_the_english_messages() {
        let english = messages(Lang::En);
        assert!(english.len() > 40, "{}", english.len());
        for lang in Lang::ALL {
            FluentResource::try_new(lang.source().to_owned())
                .unwrap_or_else(|(_, e)| panic!("{}: {e:?}", lang.code()));
            let theirs = messages(lang);
            let ids =
                |m: &BTreeMap<String, BTreeSet<String>>| m.keys().cloned().collect::<BTreeSet<_>>();
            assert_eq!(ids(&theirs), ids(&english), "{}", lang.code());
            for (id, vars) in &english {
                assert_eq!(&theirs[id], vars, "{}: variables of {id}", lang.code());
            }
        }
    }

    #[test]
    fn every_message_formats_without_errors() {
        let catalog = Catalog::load();
        for lang in Lang::ALL {
            let b = catalog.bundle(lang);
            for (id, vars) in messages(lang) {
                for n in [1, 5, 512] {
                    let msg = b
                        .get_message(&id)
                        .unwrap_or_else(|| panic!("{}: {id} is not in the bundle", lang.code()));
                    let pattern = msg.value().expect("every message has a value");
                    let mut fargs = FluentArgs::new();
                    for (name, value) in sample_args(&vars, n) {
                        match value {
                            Arg::Text(s) => fargs.set(name, FluentValue::from(s)),
                            Arg::Number(n) => fargs.set(name, FluentValue::from(n)),
                        }
                    }
                    let mut errors = Vec::new();
                    let s = b.format_pattern(pattern, Some(&fargs), &mut errors);
                    assert!(errors.is_empty(), "{}: {id}: {errors:?}", lang.code());
                    assert!(!s.trim().is_empty(), "{}: {id} is empty", lang.code());
                    assert!(!s.contains('{'), "{}: {id}: {s}", lang.code());
                    assert!(!s.contains('\u{2068}'), "isolation marks: {s}");
                }
            }
        }
    }

    #[test]
    fn translations_are_not_english_copies() {
        let catalog = Catalog::load();
        let english = messages(Lang::En);
        for lang in Lang::ALL.into_iter().filter(|l| *l != Lang::En) {
            let same: Vec<&String> = english
                .iter()
                .filter(|(id, vars)| {
                    let args = sample_args(vars, 5);
                    catalog.text(lang, id, &args) == catalog.text(Lang::En, id, &args)
                })
                .map(|(id, _)| id)
                .collect();
            // "IMEI" is the same word everywhere.
            assert!(same.len() <= 2, "{}: untranslated {same:?}", lang.code());
        }
    }

    #[test]
    fn plurals_and_variables() {
        let c = Catalog::load();
        let wrong = |lang, n: u64| c.text(lang, "code-wrong", &[("minutes", n.into())]);
        assert!(
            wrong(Lang::En, 1).ends_with("in 1 minute."),
            "{}",
            wrong(Lang::En, 1)
        );
        assert!(wrong(Lang::En, 4).ends_with("in 4 minutes."));
        assert!(wrong(Lang::Es, 4).ends_with("en 4 minutos."));
        assert!(wrong(Lang::Sw, 4).contains("dakika 4"));
        let locked = c.text(Lang::Sw, "locked-by-lender", &[("lender", "Acme".into())]);
        assert_eq!(locked, "Simu hii imefungwa na Acme.");
    }

    #[test]
    fn codes_round_trip_and_a_missing_message_shows_its_id() {
        for lang in Lang::ALL {
            assert_eq!(Lang::from_code(lang.code()), Some(lang));
        }
        assert_eq!(Lang::from_code("fr"), None);
        assert_eq!(
            Catalog::load().text(Lang::Hi, "no-such-id", &[]),
            "no-such-id"
        );
    }
}
