//! The campaign: checking mutants against the oracle and reporting.

use super::*;

pub(crate) struct Finding {
    pub(crate) case: u64,
    pub(crate) op: Op,
    pub(crate) target: Home,
    pub(crate) parents: Vec<usize>,
    pub(crate) value: String,
    pub(crate) what: String,
}

pub(crate) struct Campaign<'a> {
    pub(crate) homes: &'a Homes,
    pub(crate) seeds: &'a [Seed],
    pub(crate) generated: u64,
    pub(crate) refused: u64,
    pub(crate) accepted: u64,
    pub(crate) panics: u64,
    pub(crate) skipped: u64,
    pub(crate) respellings: u64,
    pub(crate) per_op: [u64; OP_COUNT],
    pub(crate) http_due: bool,
    pub(crate) http_cap: usize,
    pub(crate) http: Vec<(u64, Home, String)>,
    pub(crate) findings: Vec<Finding>,
}

impl Campaign<'_> {
    /// The oracle: the mutant must not open with the layer it is presented to.
    pub(crate) fn check(&mut self, case: u64, m: Mutant) {
        let seeds = self.seeds;
        if m.parents
            .iter()
            .any(|&p| seeds[p].home == m.target && seeds[p].value == m.value)
        {
            // A true no-op: byte-identical to a value valid for this layer.
            self.skipped += 1;
            return;
        }
        self.generated += 1;
        self.per_op[m.op as usize] += 1;
        let kit = &self.homes.app(m.target).kit;
        let value = m.value.as_str();
        let outcome = catch_unwind(AssertUnwindSafe(|| kit.open(value).map(|s| s.uid())));
        let what = match outcome {
            Ok(None) => {
                self.refused += 1;
                None
            }
            Ok(Some(uid)) => {
                self.accepted += 1;
                Some(format!("OPENED (uid {uid:?})"))
            }
            Err(_) => {
                self.panics += 1;
                Some("PANICKED".to_owned())
            }
        };
        if m.op.may_respell()
            && m.target == seeds[m.parents[0]].home
            && lenient_bytes(&m.value).as_deref() == Some(&seeds[m.parents[0]].bytes[..])
        {
            self.respellings += 1;
        }
        if self.generated % HTTP_EVERY == 0 {
            self.http_due = true;
        }
        if let Some(what) = what {
            if self.findings.len() < 20 {
                self.findings.push(Finding {
                    case,
                    op: m.op,
                    target: m.target,
                    parents: m.parents,
                    value: m.value,
                    what,
                });
            }
            return;
        }
        if self.http_due && self.http.len() < self.http_cap && self.http_able(&m) {
            self.http_due = false;
            self.http.push((case, m.target, m.value));
        }
    }

    /// Whether the Router would see exactly this value: a valid header field, no `;`, and not
    /// OWS-trimmed into a valid value.
    pub(crate) fn http_able(&self, m: &Mutant) -> bool {
        let name = m.target.cookie_name();
        let trimmed = m.value.trim_matches([' ', '\t']);
        !m.value.contains(';')
            && HeaderValue::from_bytes(format!("{name}={}", m.value).as_bytes()).is_ok()
            && !m
                .parents
                .iter()
                .any(|&p| self.seeds[p].home == m.target && self.seeds[p].value == trimmed)
    }

    pub(crate) fn report(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            out.push_str(&format!(
                "\n- case {} (PRNG seed {:#x}), operator {:?}, presented to {:?} as {}: {}\n  mutant: {:?}\n",
                f.case,
                case_seed(base_seed(), f.case),
                f.op,
                f.target,
                f.target.cookie_name(),
                f.what,
                f.value
            ));
            for &p in &f.parents {
                out.push_str(&format!("  from {}\n", self.seeds[p].describe(p)));
            }
        }
        out
    }
}

pub(crate) fn case_seed(base: u64, case: u64) -> u64 {
    base ^ case.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
