//! async-graphql's own messages, in French: what it says when a document does not parse or
//! validate, or when a value cannot be read as its type. Carnet's answers are in one
//! language, French (the project's convention), and never name a Rust type.
//!
//! Each message async-graphql 7 writes is matched against its English template, the names it
//! quotes (fields, types, arguments, variables: the client's own words, or the schema's) kept;
//! a message no template knows becomes a general French one, the English original going to the
//! log only. The templates are those of async-graphql 7.2 (`validation/rules`,
//! `validation/utils.rs`, `InputValueError`, the parser); the black-box test of French answers
//! (`tests/server/surface.rs`) sends a table of bad requests and fails on any English.

/// The French for one of async-graphql's messages (see the module docs).
pub fn translate(message: &str) -> String {
    if let Some(french) = known(message) {
        return french;
    }
    tracing::debug!(original = %message, "message without a French template");
    "la requête ne respecte pas le schéma GraphQL de Carnet (voir schema.graphql)".to_owned()
}

/// An English template and what makes its French from the parts that fill its `{}`.
type Rule = (&'static str, fn(&[&str]) -> String);

fn known(message: &str) -> Option<String> {
    if let Some(position) = parse_error(message) {
        return Some(format!("le document GraphQL est illisible{position} : vérifiez sa syntaxe"));
    }
    let rules: &[Rule] = &[
        ("Unknown field \"{}\" on type \"{}\".{}", |c| {
            format!("le champ « {} » n'existe pas sur le type {}{}", c[0], c[1], suggestion(c[2]))
        }),
        ("Cannot query field \"{}\" on type \"{}\".", |c| {
            format!("le champ « {} » n'existe pas sur le type {}", c[0], c[1])
        }),
        ("Unknown argument \"{}\" on field \"{}\" of type \"{}\".{}", |c| {
            format!("l'argument « {} » n'existe pas sur le champ {}.{}{}", c[0], c[2], c[1], suggestion(c[3]))
        }),
        ("Unknown argument \"{}\" on directive \"{}\".{}", |c| {
            format!("l'argument « {} » n'existe pas sur la directive @{}{}", c[0], c[1], suggestion(c[2]))
        }),
        ("Field \"{}\" argument \"{}\" of type \"{}\" is required but not provided", |c| {
            format!("l'argument « {} » (de type {}) du champ « {} » est obligatoire", c[1], c[2], c[0])
        }),
        ("Directive \"@{}\" argument \"{}\" of type \"{}\" is required but not provided", |c| {
            format!("l'argument « {} » (de type {}) de la directive @{} est obligatoire", c[1], c[2], c[0])
        }),
        ("Field \"{}\" must not have a selection since type \"{}\" has no subfields", |c| {
            format!("le champ « {} » est de type {}, sans sous-champs : retirez sa sélection", c[0], c[1])
        }),
        ("Field \"{}\" of type \"{}\" must have a selection of subfields", |c| {
            format!("le champ « {} » (de type {}) demande une sélection de sous-champs", c[0], c[1])
        }),
        ("Invalid value for argument {}", |c| format!("valeur invalide pour l'argument {}", reason(c[0]))),
        ("Invalid default value for argument: {}", |c| {
            format!("valeur par défaut invalide pour l'argument {}", reason(c[0]))
        }),
        ("Unknown type \"{}\"", |c| format!("le type « {} » n'existe pas", c[0])),
        ("Unknown directive \"{}\"", |c| format!("la directive « @{} » n'existe pas", c[0])),
        ("Unknown fragment: \"{}\"", |c| format!("le fragment « {} » n'est pas défini", c[0])),
        ("Unknown operation named \"{}\"", |c| format!("aucune opération ne s'appelle « {} » dans ce document", c[0])),
        ("Operation name required in request.", |_| {
            "ce document a plusieurs opérations : nommez celle à exécuter (operationName)".to_owned()
        }),
        ("Directive \"{}\" may not be used on \"{}\"", |c| format!("la directive « @{} » n'a pas sa place ici", c[0])),
        ("Duplicate directive \"{}\"", |c| format!("la directive « @{} » est répétée", c[0])),
        ("Fragment \"{}\" is never used", |c| format!("le fragment « {} » n'est jamais utilisé", c[0])),
        ("Fragment \"{}\" cannot condition non composite type \"{}\"", |c| {
            format!("le fragment « {} » porte sur le type {}, qui n'a pas de champs", c[0], c[1])
        }),
        ("Fragment cannot condition non composite type \"{}\"", |c| {
            format!("un fragment porte sur le type {}, qui n'a pas de champs", c[0])
        }),
        ("Fragment \"{}\" cannot be spread here as objects of type \"{}\" can never be of type \"{}\"", |c| {
            format!("le fragment « {} » ne peut pas être utilisé ici : un {} n'est jamais un {}", c[0], c[1], c[2])
        }),
        ("Fragment cannot be spread here as objects of type \"{}\" can never be of type \"{}\"", |c| {
            format!("ce fragment ne peut pas être utilisé ici : un {} n'est jamais un {}", c[0], c[1])
        }),
        ("Cannot spread fragment \"{}\"{}", |c| format!("le fragment « {} » ne peut pas être utilisé ici", c[0])),
        ("Fields \"{}\" conflict because {}", |c| {
            format!("les champs « {} » sont en conflit : donnez-leur des alias différents", c[0])
        }),
        ("There can only be one argument named \"{}\"", |c| format!("l'argument « {} » est répété", c[0])),
        ("There can only be one variable named \"${}\"", |c| format!("la variable ${} est déclarée deux fois", c[0])),
        ("Variable \"${}\" is not defined by operation \"{}\"", |c| {
            format!("la variable ${} n'est pas déclarée par l'opération « {} »", c[0], c[1])
        }),
        ("Variable \"${}\" is not defined", |c| format!("la variable ${} n'est pas déclarée", c[0])),
        ("Variable \"${}\" is not used by operation \"{}\"", |c| {
            format!("la variable ${} est déclarée mais l'opération « {} » ne s'en sert pas", c[0], c[1])
        }),
        ("Variable \"${}\" is not used", |c| format!("la variable ${} est déclarée mais ne sert pas", c[0])),
        ("Variable \"{}\" cannot be of non-input type \"{}\"", |c| {
            format!("la variable {} ne peut pas être de type {} (un type de sortie)", c[0], c[1])
        }),
        ("Variable \"{}\" of type \"{}\" used in position expecting type \"{}\"", |c| {
            format!("la variable {} est de type {}, là où le type {} est attendu", c[0], c[1], c[2])
        }),
        ("Variable {} is not defined.", |c| format!("la variable {} n'a pas de valeur", c[0])),
        ("Failed to parse \"{}\": {}", |c| format!("valeur invalide pour le type {}{}", c[0], detail_of(c[0], c[1]))),
        ("Expected input type \"{}\", found {}.", |c| format!("valeur invalide : le type {} est attendu", c[0])),
        ("Query is too complex.", |_| {
            "requête trop coûteuse : demandez moins de champs, ou des pages plus petites".to_owned()
        }),
        ("Query is nested too deep.", |_| "requête trop profonde".to_owned()),
        ("Subscriptions are not supported on this transport.", |_| {
            "les abonnements passent par le WebSocket /graphql/ws, pas par HTTP".to_owned()
        }),
        ("Schema is not configured for {}s.", |c| format!("ce schéma n'a pas d'opérations « {} »", c[0])),
    ];
    rules.iter().find_map(|(template, french)| captures(template, message).map(|c| french(&c)))
}

/// The position of a parse error ("` --> 1:3`"), if `message` is one: async-graphql's parser
/// (pest) writes them as a drawing of the line in English.
fn parse_error(message: &str) -> Option<String> {
    let rest = message.trim_start().strip_prefix("-->")?;
    let position = rest.split_whitespace().next().unwrap_or_default();
    let mut numbers = position.split(':');
    match (numbers.next().and_then(|l| l.parse::<u32>().ok()), numbers.next().and_then(|c| c.parse::<u32>().ok())) {
        (Some(line), Some(column)) => Some(format!(" (ligne {line}, colonne {column})")),
        _ => Some(String::new()),
    }
}

/// async-graphql's `" Did you mean \"a\"?"` (or `\"a\" or \"b\"`), in French.
fn suggestion(english: &str) -> String {
    let names = quoted(english);
    if names.is_empty() { String::new() } else { format!(" ; vouliez-vous dire {} ?", names.join(" ou ")) }
}

/// The reason async-graphql gives for an invalid value: `"path", what is wrong`.
fn reason(english: &str) -> String {
    let Some((path, what)) = english.split_once(", ") else {
        return format!("« {} »", english.trim_matches('"'));
    };
    let path = path.trim_matches('"');
    let why = if let Some(c) = captures("expected type \"{}\"", what) {
        format!("le type {} est attendu", c[0])
    } else if let Some(c) = captures("enumeration type \"{}\" does not contain the value \"{}\"", what) {
        format!("« {} » n'est pas une valeur de {}", c[1], c[0])
    } else if let Some(c) = captures("unknown field \"{}\" of type \"{}\"", what) {
        format!("le champ « {} » n'existe pas dans {}", c[0], c[1])
    } else if let Some(c) = captures("field \"{}\" of type \"{}\" is required but not provided", what) {
        format!("le champ « {} » (de type {}) est obligatoire", c[0], c[1])
    } else if what.starts_with("Oneof") {
        "exactement un champ, non nul, est attendu".to_owned()
    } else if let Some(c) = captures("Failed to parse \"{}\": {}", what) {
        format!("valeur invalide pour le type {}{}", c[0], detail_of(c[0], c[1]))
    } else {
        "valeur incorrecte".to_owned()
    };
    format!("« {path} » : {why}")
}

/// What a scalar said of a value it could not read, with the form the dates take.
fn detail_of(ty: &str, english: &str) -> String {
    match ty {
        "NaiveDate" => " : une date s'écrit AAAA-MM-JJ, par exemple 2026-09-01".to_owned(),
        "DateTime" => " : un instant s'écrit en RFC 3339, par exemple 2026-09-01T08:30:00Z".to_owned(),
        _ => detail(english),
    }
}

/// What a scalar said of a value it could not read: the bounds of `Int`, else nothing (chrono's
/// and serde's words are English, and may name Rust types).
fn detail(english: &str) -> String {
    if let Some(c) = captures("Only integers from {} to {} are accepted.", english) {
        return format!(" : seuls les entiers de {} à {} sont acceptés", c[0], c[1]);
    }
    if english.contains("premature end") || english.contains("invalid") || english.contains("out of range") {
        let hint = match () {
            _ if english.contains("out of range") => "hors des bornes",
            _ => "mal formée",
        };
        return format!(" : valeur {hint}");
    }
    String::new()
}

/// The strings between double quotes in `text`.
fn quoted(text: &str) -> Vec<String> {
    text.split('"').skip(1).step_by(2).map(|name| format!("« {name} »")).collect()
}

/// The parts of `message` that fill the `{}` of `template`, if it matches it whole. Each `{}`
/// takes the shortest text up to the next literal part (the last one takes the rest).
fn captures<'m>(template: &str, message: &'m str) -> Option<Vec<&'m str>> {
    let parts: Vec<&str> = template.split("{}").collect();
    let mut rest = message.strip_prefix(parts[0])?;
    let mut found = vec![];
    for (i, literal) in parts.iter().enumerate().skip(1) {
        if i == parts.len() - 1 && literal.is_empty() {
            found.push(rest);
            rest = "";
            continue;
        }
        let at = if i == parts.len() - 1 { rest.rfind(literal)? } else { rest.find(literal)? };
        found.push(&rest[..at]);
        rest = &rest[at + literal.len()..];
    }
    rest.is_empty().then_some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_messages() {
        assert_eq!(captures("Unknown type \"{}\"", "Unknown type \"Foo\""), Some(vec!["Foo"]));
        assert_eq!(captures("Unknown type \"{}\"", "Unknown type \"Foo\" here"), None);
        assert_eq!(
            captures("Unknown field \"{}\" on type \"{}\".{}", "Unknown field \"x\" on type \"Query\"."),
            Some(vec!["x", "Query", ""])
        );
    }

    #[test]
    fn async_graphql_messages_become_french() {
        assert_eq!(
            translate("Unknown field \"projet\" on type \"Query\". Did you mean \"project\"?"),
            "le champ « projet » n'existe pas sur le type Query ; vouliez-vous dire « project » ?"
        );
        assert_eq!(
            translate("Invalid value for argument \"first\", expected type \"Int\""),
            "valeur invalide pour l'argument « first » : le type Int est attendu"
        );
        assert_eq!(
            translate(
                "Invalid value for argument \"filter.status\", enumeration type \"ProjectStatus\" does not contain the value \"X\""
            ),
            "valeur invalide pour l'argument « filter.status » : « X » n'est pas une valeur de ProjectStatus"
        );
        assert_eq!(
            translate("Failed to parse \"Int\": Only integers from -2147483648 to 2147483647 are accepted."),
            "valeur invalide pour le type Int : seuls les entiers de -2147483648 à 2147483647 sont acceptés"
        );
        assert_eq!(
            translate(" --> 1:2\n  |\n1 | {\n  |  ^---\n  |\n  = expected selection"),
            "le document GraphQL est illisible (ligne 1, colonne 2) : vérifiez sa syntaxe"
        );
        assert!(translate("Something new in async-graphql 8").starts_with("la requête ne respecte pas"));
    }
}
