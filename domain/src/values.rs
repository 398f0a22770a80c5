//! Value types that parse rather than validate: a value that exists is valid.
//!
//! Each type has a private field, a `parse` (or `TryFrom`) that names the rule it enforces, and
//! serde that goes through the same parse, so a value read back from the log is checked too.

use crate::decider::ValueError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::LazyLock;

/// Serde and `Display` through the text form: written as `as_str()`, read back through `$read`
/// (`parse`, or `from_stored` where old records may hold what new input may not), so that a
/// value read from the log is checked like one typed by a user. Generics go in brackets:
/// `serde_via_string!(Text<MAX>, parse, [const MAX: usize])`.
macro_rules! serde_via_string {
    ($t:ty, $read:ident $(, [$($generics:tt)*])?) => {
        impl $(<$($generics)*>)? Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
        impl<'de $(, $($generics)*)?> Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                <$t>::$read(&raw).map_err(serde::de::Error::custom)
            }
        }
        impl $(<$($generics)*>)? fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Académies

/// One row of the national académie reference (embedded at build time from
/// `data/academies.csv`, a copy of `shared/reference/academies.csv`).
#[derive(Debug, PartialEq, Eq)]
pub struct Academie {
    pub code: &'static str,
    pub name: &'static str,
    /// `None` for the Pacific vice-rectorats and Saint-Pierre-et-Miquelon.
    pub region_academique: Option<&'static str>,
    /// Historical codes (Caen, Rouen, merged into Normandie) are read from old records but
    /// refused for new ones.
    pub current: bool,
}

static ACADEMIES: LazyLock<Vec<Academie>> = LazyLock::new(|| {
    include_str!("../data/academies.csv")
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(parse_academie_row)
        .collect()
});

fn parse_academie_row(line: &'static str) -> Academie {
    // The file is ours and embedded at build time; a malformed row is a build defect, caught
    // by `every_reference_row_parses` below.
    let mut cols = line.splitn(4, ',');
    let code = cols.next().unwrap_or_default().trim();
    let name = cols.next().unwrap_or_default().trim();
    let region = cols.next().unwrap_or_default().trim();
    let status = cols.next().unwrap_or_default().trim();
    Academie { code, name, region_academique: (!region.is_empty()).then_some(region), current: status == "current" }
}

/// All académies of the reference, current and historical.
pub fn academies() -> &'static [Academie] {
    &ACADEMIES
}

/// A code of the académie reference.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcademieCode(&'static str);

impl AcademieCode {
    /// For new records: the code must exist and be current.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let code = Self::from_stored(raw)?;
        if !code.academie().current {
            return Err(ValueError::new(
                "academie.historical",
                format!(
                    "le code académie « {} » ({}) est historique et ne peut plus être utilisé pour un nouvel enregistrement",
                    code.0,
                    code.academie().name
                ),
            ));
        }
        Ok(code)
    }

    /// For records already in the log or imported: historical codes are accepted.
    pub fn from_stored(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim();
        academies().iter().find(|a| a.code == raw).map(|a| Self(a.code)).ok_or_else(|| {
            ValueError::new(
                "academie.unknown",
                format!("le code académie « {raw} » n'existe pas dans le référentiel des académies"),
            )
        })
    }

    pub fn as_str(&self) -> &'static str {
        self.0
    }

    pub fn academie(&self) -> &'static Academie {
        // A code exists only if it was found in the reference.
        academies().iter().find(|a| a.code == self.0).expect("code from the reference")
    }
}

impl fmt::Debug for AcademieCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AcademieCode({})", self.0)
    }
}
serde_via_string!(AcademieCode, from_stored);

// ---------------------------------------------------------------------------------------------
// UAI (unité administrative immatriculée, the identifier of a school or service)

const UAI_CHECK_LETTERS: &[u8; 23] = b"ABCDEFGHJKLMNPRSTUVWXYZ";

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Uai(String);

impl Uai {
    /// Seven digits and a check letter: `"ABCDEFGHJKLMNPRSTUVWXYZ"[digits % 23]`.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim().to_ascii_uppercase();
        let bytes = raw.as_bytes();
        let well_formed =
            bytes.len() == 8 && bytes[..7].iter().all(u8::is_ascii_digit) && bytes[7].is_ascii_uppercase();
        if !well_formed {
            return Err(ValueError::new(
                "uai.format",
                format!("l'UAI « {raw} » doit comporter 7 chiffres suivis d'une lettre (ex. 0750654D)"),
            ));
        }
        let number: usize = raw[..7].parse().map_err(|_| ValueError::new("uai.format", "UAI illisible"))?;
        let expected = UAI_CHECK_LETTERS[number % 23] as char;
        if bytes[7] as char != expected {
            return Err(ValueError::new(
                "uai.check_letter",
                format!("l'UAI « {raw} » a une lettre de contrôle erronée : {expected} attendue"),
            ));
        }
        Ok(Self(raw))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
serde_via_string!(Uai, parse);

// ---------------------------------------------------------------------------------------------
// SIRET

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Siret(String);

impl Siret {
    /// Fourteen digits passing the Luhn check. La Poste's establishments (SIREN 356000000) use
    /// the INSEE exception: the sum of the digits is a multiple of 5.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let digits: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != 14 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError::new("siret.format", "un SIRET comporte 14 chiffres"));
        }
        let valid = if digits.starts_with("356000000") && digits != "35600000000048" {
            digits.bytes().map(|b| u32::from(b - b'0')).sum::<u32>().is_multiple_of(5)
        } else {
            luhn(&digits)
        };
        if !valid {
            return Err(ValueError::new(
                "siret.checksum",
                format!("le SIRET « {digits} » n'est pas valide (clé de contrôle de Luhn erronée)"),
            ));
        }
        Ok(Self(digits))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
serde_via_string!(Siret, parse);

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                let d2 = d * 2;
                if d2 > 9 { d2 - 9 } else { d2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

// ---------------------------------------------------------------------------------------------
// Email

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Email(String);

impl Email {
    /// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces,
    /// at most 254 characters. Stored lowercased: addresses are compared case-insensitively.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim();
        let bad = || ValueError::new("email.format", format!("« {raw} » n'est pas une adresse électronique valide"));
        if raw.len() > 254 || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(bad());
        }
        let (local, domain) = raw.split_once('@').ok_or_else(bad)?;
        let domain_ok = !domain.contains('@')
            && domain.contains('.')
            && domain.split('.').all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(bad());
        }
        Ok(Self(raw.to_lowercase()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
serde_via_string!(Email, parse);

// ---------------------------------------------------------------------------------------------
// Bounded text

/// Trimmed, non-empty text of at most `MAX` characters, without NUL or other control
/// characters (line breaks and tabs excepted). PostgreSQL's `jsonb` cannot hold `\u0000`, and
/// no user means one, so NUL is refused with a clear message rather than stored differently on
/// each backend.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Text<const MAX: usize>(String);

/// A title or a name of something (not of a person): up to 200 characters.
pub type Title = Text<200>;
/// A short label: a role, a theme, an organisation, a code's explanation.
pub type Label = Text<120>;
/// A paragraph: a problem statement, a summary, a reason, a report.
pub type LongText = Text<20_000>;

impl<const MAX: usize> Text<MAX> {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ValueError::new("text.empty", "ce texte ne peut pas être vide"));
        }
        if text.contains('\0') {
            return Err(ValueError::new("text.nul", "ce texte contient un caractère nul (U+0000), refusé"));
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
            return Err(ValueError::new("text.control", "ce texte contient un caractère de contrôle, refusé"));
        }
        let len = text.chars().count();
        if len > MAX {
            return Err(ValueError::new(
                "text.too_long",
                format!("ce texte fait {len} caractères, au-delà de la limite de {MAX}"),
            ));
        }
        Ok(Self(text.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

serde_via_string!(Text<MAX>, parse, [const MAX: usize]);

// ---------------------------------------------------------------------------------------------
// Date range

/// A span of time whose end is strictly after its start.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
pub struct DateRange {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl DateRange {
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Result<Self, ValueError> {
        if end <= start {
            return Err(ValueError::new("date_range.end_before_start", "la fin doit être postérieure au début"));
        }
        Ok(Self { start, end })
    }
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }
}

impl<'de> Deserialize<'de> for DateRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            start: DateTime<Utc>,
            end: DateTime<Utc>,
        }
        let raw = Raw::deserialize(d)?;
        Self::new(raw.start, raw.end).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------------------------
// Percentages and references

/// Progress of a project, 0 to 100.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize)]
pub struct Progress(u8);

impl Progress {
    pub fn new(value: i64) -> Result<Self, ValueError> {
        u8::try_from(value).ok().filter(|v| *v <= 100).map(Self).ok_or_else(|| {
            ValueError::new("progress.range", format!("l'avancement doit être compris entre 0 et 100 (reçu {value})"))
        })
    }
    pub fn value(&self) -> u8 {
        self.0
    }
}

impl<'de> Deserialize<'de> for Progress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(i64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// A project's human reference, `110B-P-2026-007`: lab prefix, `P`, year, sequence number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ProjectReference(String);

impl ProjectReference {
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let raw = raw.trim();
        let parts: Vec<&str> = raw.split('-').collect();
        let ok = parts.len() == 4
            && !parts[0].is_empty()
            && parts[0].len() <= 10
            && parts[0].bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            && parts[1] == "P"
            && parts[2].len() == 4
            && parts[2].bytes().all(|b| b.is_ascii_digit())
            && parts[3].len() >= 3
            && parts[3].len() <= 6
            && parts[3].bytes().all(|b| b.is_ascii_digit());
        if !ok {
            return Err(ValueError::new(
                "project_reference.format",
                format!("la référence « {raw} » doit avoir la forme 110B-P-2026-007"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    /// The reference of the `seq`-th project of `year` for the lab `prefix`.
    pub fn build(prefix: &str, year: i32, seq: u32) -> Result<Self, ValueError> {
        Self::parse(&format!("{prefix}-P-{year:04}-{seq:03}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
serde_via_string!(ProjectReference, parse);

// ---------------------------------------------------------------------------------------------
// Identifiers

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// Opaque id of a person: the only way other aggregates refer to people.
    PersonId
);
id_type!(ProjectId);
id_type!(SessionId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_row_parses() {
        assert_eq!(academies().len(), 36);
        assert!(academies().iter().all(|a| !a.code.is_empty() && !a.name.is_empty()));
        assert_eq!(AcademieCode::parse("01").unwrap().academie().name, "Paris");
        assert_eq!(AcademieCode::parse("70").unwrap().academie().region_academique, Some("Normandie"));
        assert_eq!(AcademieCode::parse("40").unwrap().academie().region_academique, None);
    }

    #[test]
    fn academie_codes() {
        assert_eq!(AcademieCode::parse("99").unwrap_err().rule, "academie.unknown");
        assert_eq!(AcademieCode::parse("05").unwrap_err().rule, "academie.historical");
        assert_eq!(AcademieCode::from_stored("05").unwrap().academie().name, "Caen");
        let json = serde_json::to_string(&AcademieCode::parse("24").unwrap()).unwrap();
        assert_eq!(json, "\"24\"");
        assert!(serde_json::from_str::<AcademieCode>("\"21\"").is_ok(), "old records keep historical codes");
        assert!(serde_json::from_str::<AcademieCode>("\"26\"").is_err());
    }

    #[test]
    fn uai_format_and_check_letter() {
        for ok in ["0750654D", "0750655E", "0690026D", "0750654d"] {
            assert!(Uai::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Uai::parse("0750654E").unwrap_err().rule, "uai.check_letter");
        assert_eq!(Uai::parse("075065D").unwrap_err().rule, "uai.format");
        assert_eq!(Uai::parse("07506541").unwrap_err().rule, "uai.format");
        assert_eq!(Uai::parse("A750654D").unwrap_err().rule, "uai.format");
    }

    #[test]
    fn siret_luhn() {
        assert!(Siret::parse("732 829 320 00074").is_ok());
        assert!(Siret::parse("11000201100044").is_ok()); // Ministère de l'Éducation nationale
        assert_eq!(Siret::parse("73282932000075").unwrap_err().rule, "siret.checksum");
        assert_eq!(Siret::parse("7328293200007").unwrap_err().rule, "siret.format");
        assert!(Siret::parse("35600000000048").is_ok(), "La Poste head office follows Luhn");
        assert!(Siret::parse("35600000000001").is_ok(), "La Poste establishments: digit sum % 5, not Luhn");
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Camille.Martin@Education.gouv.fr ").unwrap().as_str(),
            "camille.martin@education.gouv.fr"
        );
        for bad in ["", "camille", "camille@", "@gouv.fr", "a b@gouv.fr", "a@b", "a@@b.fr", "a@-b.fr"] {
            assert_eq!(Email::parse(bad).unwrap_err().rule, "email.format", "{bad}");
        }
    }

    #[test]
    fn bounded_text() {
        assert_eq!(Title::parse("  Un titre  ").unwrap().as_str(), "Un titre");
        assert_eq!(Title::parse("   ").unwrap_err().rule, "text.empty");
        assert_eq!(Title::parse("a\0b").unwrap_err().rule, "text.nul");
        assert_eq!(Title::parse("a\u{7}b").unwrap_err().rule, "text.control");
        assert_eq!(Title::parse(&"é".repeat(201)).unwrap_err().rule, "text.too_long");
        assert!(Title::parse(&"é".repeat(200)).is_ok(), "the limit counts characters, not bytes");
        let quoted = "l'« école » \"du futur\" ; DROP TABLE events; -- 🚀";
        assert_eq!(LongText::parse(quoted).unwrap().as_str(), quoted);
    }

    #[test]
    fn date_ranges_and_progress() {
        let a = DateTime::parse_from_rfc3339("2026-03-01T09:00:00Z").unwrap().to_utc();
        let b = DateTime::parse_from_rfc3339("2026-03-01T17:00:00Z").unwrap().to_utc();
        assert!(DateRange::new(a, b).is_ok());
        assert_eq!(DateRange::new(b, a).unwrap_err().rule, "date_range.end_before_start");
        assert_eq!(DateRange::new(a, a).unwrap_err().rule, "date_range.end_before_start");
        let json = r#"{"start":"2026-03-01T17:00:00Z","end":"2026-03-01T09:00:00Z"}"#;
        assert!(serde_json::from_str::<DateRange>(json).is_err());
        assert_eq!(Progress::new(100).unwrap().value(), 100);
        assert_eq!(Progress::new(101).unwrap_err().rule, "progress.range");
        assert_eq!(Progress::new(-1).unwrap_err().rule, "progress.range");
    }

    #[test]
    fn project_references() {
        assert_eq!(ProjectReference::build("110B", 2026, 7).unwrap().as_str(), "110B-P-2026-007");
        assert!(ProjectReference::parse("110B-P-26-007").is_err());
        assert!(ProjectReference::parse("110B-S-2026-007").is_err());
    }
}
