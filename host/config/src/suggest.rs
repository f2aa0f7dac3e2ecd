//! "Did you mean" suggestions for misspelt keys and names.

/// The candidate closest to `input`, if any is close enough to be a plausible typo.
///
/// A case-insensitive match always wins; otherwise candidates within a Damerau-Levenshtein
/// distance of a third of the length, or with a Jaro-Winkler similarity of at least 0.9 and
/// at most half the characters different, ranked by similarity.
pub(crate) fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = input.to_ascii_lowercase();
    let mut best: Option<(f64, &'a str)> = None;
    for candidate in candidates {
        let cand_lower = candidate.to_ascii_lowercase();
        if cand_lower == lower {
            return Some(candidate);
        }
        let jw = strsim::jaro_winkler(&lower, &cand_lower);
        let distance = strsim::damerau_levenshtein(&lower, &cand_lower);
        let max_len = lower.chars().count().max(cand_lower.chars().count());
        let close_edit = distance <= (max_len / 3).max(1);
        let similar = jw >= 0.9 && distance * 2 <= max_len;
        if !close_edit && !similar {
            continue;
        }
        let score = jw + if close_edit { 0.1 } else { 0.0 };
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typo_suggestions() {
        let keys = ["entryPoints", "rule", "ruleSyntax", "priority", "service"];
        assert_eq!(closest("rulle", keys), Some("rule"));
        assert_eq!(closest("rul", keys), Some("rule"));
        assert_eq!(closest("entrypoints", keys), Some("entryPoints"));
        assert_eq!(closest("servce", keys), Some("service"));
        assert_eq!(closest("completelyDifferent", keys), None);
        assert_eq!(closest("x", keys), None);
        assert_eq!(closest("websecure", ["web", "api"]), None);
        assert_eq!(
            closest("loadBalancr", ["loadBalancer", "weighted"]),
            Some("loadBalancer")
        );
    }
}
