//! The languages the decidable part of the condition language denotes, per claim: sets of strings given by
//! literals and `StringLike` globs, closed under intersection and complement (globs are regular), plus whether a
//! missing claim is in the set. Deterministic automata over a small alphabet: every character any value of the
//! role's two policies names, and one symbol standing for every other character.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::policy::condition::wildcard::GlobPiece;

/// Most states one automaton may reach; beyond it the question is left undecided.
pub(super) const MAX_STATES: usize = 20_000;

/// The characters the values name, and a character none of them is (the "other" symbol's witness).
#[derive(Clone, Debug)]
pub(super) struct Alphabet {
    letters: Vec<char>,
    other: char,
}

impl Alphabet {
    pub(super) fn new(letters: BTreeSet<char>) -> Alphabet {
        let other = ('a'..='z').chain('0'..='9').find(|c| !letters.contains(c)).unwrap_or('\u{2603}');
        Alphabet { letters: letters.into_iter().collect(), other }
    }

    fn size(&self) -> usize {
        self.letters.len() + 1
    }

    fn symbol(&self, c: char) -> usize {
        self.letters.binary_search(&c).unwrap_or(self.letters.len())
    }

    fn char_of(&self, symbol: usize) -> char {
        self.letters.get(symbol).copied().unwrap_or(self.other)
    }
}

/// A complete deterministic automaton; state 0 is the start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Dfa {
    next: Vec<Vec<usize>>,
    accept: Vec<bool>,
}

/// The set of strings (`dfa`) and whether a missing claim belongs (`missing`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Lang {
    pub(super) dfa: Dfa,
    pub(super) missing: bool,
}

/// An automaton grew past [`MAX_STATES`].
#[derive(Debug)]
pub(super) struct TooLarge;

impl Dfa {
    /// Every string, or none.
    fn constant(alphabet: &Alphabet, accept: bool) -> Dfa {
        Dfa { next: vec![vec![0; alphabet.size()]], accept: vec![accept] }
    }

    fn step(&self, state: usize, symbol: usize) -> usize {
        self.next.get(state).and_then(|row| row.get(symbol)).copied().unwrap_or(0)
    }

    fn accepts(&self, state: usize) -> bool {
        self.accept.get(state).copied().unwrap_or(false)
    }

    /// The strings one of `globs` matches.
    pub(super) fn globs(alphabet: &Alphabet, globs: &[Vec<GlobPiece>]) -> Result<Dfa, TooLarge> {
        // Subset construction over the union of the globs' position automata: (glob, position) pairs.
        let piece = |g: usize, i: usize| globs.get(g).and_then(|glob| glob.get(i)).copied();
        let closure = |set: &mut BTreeSet<(usize, usize)>| {
            let mut todo: Vec<_> = set.iter().copied().collect();
            while let Some((g, i)) = todo.pop() {
                if piece(g, i) == Some(GlobPiece::AnyRun) && set.insert((g, i + 1)) {
                    todo.push((g, i + 1));
                }
            }
        };
        let mut start: BTreeSet<(usize, usize)> = (0..globs.len()).map(|g| (g, 0)).collect();
        closure(&mut start);
        let mut ids = BTreeMap::from([(start.clone(), 0)]);
        let mut queue = VecDeque::from([start]);
        let mut dfa = Dfa { next: Vec::new(), accept: Vec::new() };
        while let Some(set) = queue.pop_front() {
            dfa.accept.push(set.iter().any(|&(g, i)| globs.get(g).is_some_and(|glob| glob.len() == i)));
            let mut row = Vec::with_capacity(alphabet.size());
            for symbol in 0..alphabet.size() {
                let mut target = BTreeSet::new();
                for &(g, i) in &set {
                    match piece(g, i) {
                        Some(GlobPiece::Char(c)) if alphabet.symbol(c) == symbol => {
                            target.insert((g, i + 1));
                        }
                        Some(GlobPiece::AnyChar) => {
                            target.insert((g, i + 1));
                        }
                        Some(GlobPiece::AnyRun) => {
                            target.insert((g, i));
                        }
                        _ => {}
                    }
                }
                closure(&mut target);
                let next_id = ids.len();
                let id = *ids.entry(target.clone()).or_insert_with(|| {
                    queue.push_back(target);
                    next_id
                });
                row.push(id);
            }
            dfa.next.push(row);
            if ids.len() > MAX_STATES {
                return Err(TooLarge);
            }
        }
        Ok(dfa)
    }

    /// The product automaton, accepting where `keep(a, b)` says.
    fn product(&self, other: &Dfa, keep: fn(bool, bool) -> bool) -> Result<Dfa, TooLarge> {
        let symbols = self.next.first().map_or(0, Vec::len);
        let mut ids = BTreeMap::from([((0, 0), 0)]);
        let mut queue = VecDeque::from([(0, 0)]);
        let mut dfa = Dfa { next: Vec::new(), accept: Vec::new() };
        while let Some((a, b)) = queue.pop_front() {
            dfa.accept.push(keep(self.accepts(a), other.accepts(b)));
            let row = (0..symbols)
                .map(|symbol| {
                    let pair = (self.step(a, symbol), other.step(b, symbol));
                    let next_id = ids.len();
                    *ids.entry(pair).or_insert_with(|| {
                        queue.push_back(pair);
                        next_id
                    })
                })
                .collect();
            dfa.next.push(row);
            if ids.len() > MAX_STATES {
                return Err(TooLarge);
            }
        }
        Ok(dfa)
    }

    fn complement(&self) -> Dfa {
        Dfa { next: self.next.clone(), accept: self.accept.iter().map(|accept| !accept).collect() }
    }

    fn is_empty(&self) -> bool {
        self.shortest_path().is_none()
    }

    /// The symbols of a shortest accepted string (breadth first from the start), or `None` when it is empty.
    fn shortest_path(&self) -> Option<Vec<usize>> {
        let mut previous: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
        let mut seen = BTreeSet::from([0]);
        let mut queue = VecDeque::from([0]);
        while let Some(state) = queue.pop_front() {
            if self.accepts(state) {
                let mut path = Vec::new();
                let mut at = state;
                while let Some(&(from, symbol)) = previous.get(&at) {
                    path.push(symbol);
                    at = from;
                }
                path.reverse();
                return Some(path);
            }
            for (symbol, &next) in self.next.get(state).into_iter().flatten().enumerate() {
                if seen.insert(next) {
                    previous.insert(next, (state, symbol));
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// A shortest accepted string, or `None` when the language is empty.
    pub(super) fn shortest(&self, alphabet: &Alphabet) -> Option<String> {
        self.shortest_path().map(|path| path.into_iter().map(|symbol| alphabet.char_of(symbol)).collect())
    }
}

impl Lang {
    /// Only the missing claim (`Null: true`), or every present value (`Null: false`).
    pub(super) fn presence(alphabet: &Alphabet, missing: bool) -> Lang {
        Lang { dfa: Dfa::constant(alphabet, !missing), missing }
    }

    pub(super) fn intersect(&self, other: &Lang) -> Result<Lang, TooLarge> {
        Ok(Lang { dfa: self.dfa.product(&other.dfa, |a, b| a && b)?, missing: self.missing && other.missing })
    }

    pub(super) fn union(&self, other: &Lang) -> Result<Lang, TooLarge> {
        Ok(Lang { dfa: self.dfa.product(&other.dfa, |a, b| a || b)?, missing: self.missing || other.missing })
    }

    /// True when neither a string nor the missing claim belongs.
    pub(super) fn is_empty(&self) -> bool {
        !self.missing && self.dfa.is_empty()
    }

    pub(super) fn complement(&self) -> Lang {
        Lang { dfa: self.dfa.complement(), missing: !self.missing }
    }

    /// A member: `Some(Some(text))` a string (preferred), `Some(None)` the missing claim, `None` when empty.
    pub(super) fn witness(&self, alphabet: &Alphabet) -> Option<Option<String>> {
        match self.dfa.shortest(alphabet) {
            Some(text) => Some(Some(text)),
            None if self.missing => Some(None),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::condition::wildcard::Pattern;

    impl Dfa {
        fn accepts_str(&self, alphabet: &Alphabet, text: &str) -> bool {
            let state = text.chars().fold(0, |state, c| self.step(state, alphabet.symbol(c)));
            self.accepts(state)
        }
    }

    #[test]
    fn automata_agree_with_the_matcher_and_witnesses_belong() {
        let patterns = ["repo:acme/*", "repo:*/web:ref:refs/heads/main", "a?c*", "*", "", "x*y*z", "??"];
        let texts = [
            "repo:acme/web",
            "repo:acme/",
            "repo:other/web:ref:refs/heads/main",
            "abc",
            "ac",
            "",
            "xyz",
            "xy",
            "zz",
            "é",
            "xaybzc",
        ];
        let letters = patterns.iter().chain(&texts).flat_map(|text| text.chars()).collect();
        let alphabet = Alphabet::new(letters);
        for pattern in patterns {
            let compiled = Pattern::new(pattern);
            let dfa = Dfa::globs(&alphabet, &[compiled.glob_pieces()]).unwrap();
            for text in texts {
                assert_eq!(dfa.accepts_str(&alphabet, text), compiled.matches(text), "{pattern:?} on {text:?}");
            }
            if let Some(witness) = dfa.shortest(&alphabet) {
                assert!(compiled.matches(&witness), "{pattern:?}: witness {witness:?}");
            }
        }
        // repo:acme/* minus repo:acme/secrets*: a witness outside the exception; the exception minus itself: none.
        let glob = |text: &str| Lang {
            dfa: Dfa::globs(&alphabet, &[Pattern::new(text).glob_pieces()]).unwrap(),
            missing: false,
        };
        let (all, secrets) = (glob("repo:acme/*"), glob("repo:acme/secrets*"));
        let rest = all.intersect(&secrets.complement()).unwrap();
        let witness = rest.witness(&alphabet).unwrap().unwrap();
        assert!(witness.starts_with("repo:acme/") && !witness.starts_with("repo:acme/secrets"), "{witness}");
        assert!(secrets.intersect(&all.complement()).unwrap().is_empty());
        assert_eq!(secrets.complement().witness(&alphabet), Some(Some(String::new())), "the empty string is outside");
        assert_eq!(Lang::presence(&alphabet, true).witness(&alphabet), Some(None), "only the missing claim");
    }
}
