//! Drawing one mutant: an operator, its seeds and its target layer.

use super::*;

/// A mutant and where it came from.
pub(crate) struct Mutant {
    pub(crate) op: Op,
    pub(crate) target: Home,
    pub(crate) parents: Vec<usize>,
    pub(crate) value: String,
}

pub(crate) fn partner_of(rng: &mut Rng, i: usize) -> usize {
    if rng.coin() {
        i ^ 1 // The twin: same size; same key, current/previous key, or another layer.
    } else {
        let j = rng.below(SEEDS - 1);
        if j >= i {
            j + 1
        } else {
            j
        }
    }
}

pub(crate) fn seeds_of(seeds: &[Seed], home: impl Fn(Home) -> bool) -> Vec<usize> {
    (0..seeds.len()).filter(|&i| home(seeds[i].home)).collect()
}

pub(crate) struct Pools {
    pub(crate) main: Vec<usize>,
    pub(crate) moved: Vec<usize>,
    pub(crate) purpose: Vec<usize>,
    pub(crate) foreign: Vec<usize>,
}

pub(crate) fn draw(rng: &mut Rng, seeds: &[Seed], pools: &Pools) -> Option<Mutant> {
    let op = pick_op(rng);
    if op.is_transplant() {
        // A valid value, unchanged, presented to a layer it was not sealed for (both ways).
        let toward_main = rng.coin();
        let (from, to): (&[usize], Home) = match op {
            Op::MoveName if toward_main => (&pools.moved, Home::Main),
            Op::MoveName => (&pools.main, Home::MovedName),
            Op::OtherPurpose if toward_main => (&pools.purpose, Home::Main),
            Op::OtherPurpose => (&pools.main, Home::OtherPurpose),
            _ if toward_main => (&pools.foreign, Home::Main),
            _ => (&pools.main, Home::Foreign(*rng.pick(&FOREIGN_KEYS))),
        };
        let i = *rng.pick(from);
        return Some(Mutant {
            op,
            target: to,
            parents: vec![i],
            value: seeds[i].value.clone(),
        });
    }
    let i = rng.below(seeds.len());
    let mut parents = vec![i];
    let mut target = seeds[i].home;
    let name = |home: Home| home.cookie_name();
    let value = if op == Op::Stacked {
        let mut value = seeds[i].value.clone();
        let mut changed = false;
        for _ in 0..rng.between(2, 4) {
            let step = loop {
                let step = pick_op(rng);
                if !step.is_transplant() && step != Op::Stacked {
                    break step;
                }
            };
            let j = partner_of(rng, i);
            if let Some(next) = apply(step, rng, &value, &seeds[j], name(target)) {
                value = next;
                changed = true;
                if step.is_splice() {
                    parents.push(j);
                }
            }
        }
        if !changed {
            return None;
        }
        value
    } else {
        let j = partner_of(rng, i);
        let value = apply(op, rng, &seeds[i].value, &seeds[j], name(target))?;
        if op.is_splice() {
            parents.push(j);
            // Present the splice to either parent's layer.
            if rng.coin() {
                target = seeds[j].home;
            }
        }
        value
    };
    Some(Mutant {
        op,
        target,
        parents,
        value,
    })
}

/// Undoes the spelling changes a lenient decoder would forgive, and decodes leniently. `Some` of
/// the bytes if the mutant is another spelling of them.
pub(crate) fn lenient_bytes(value: &str) -> Option<Vec<u8>> {
    let lenient = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut text = value
        .replace("%2B", "+")
        .replace("%2b", "+")
        .replace("%2F", "/")
        .replace("%2f", "/")
        .replace("%3D", "=")
        .replace("%3d", "=")
        .replace("%22", "")
        .replace(
            ['"', '\'', '\u{feff}', '\u{a0}', '\u{3000}', '\u{2028}'],
            "",
        )
        .replace('-', "+")
        .replace('_', "/");
    text.retain(|c| !c.is_ascii_whitespace() && c != '\u{b}' && c != '\u{0}');
    let trimmed = text.trim_end_matches('=');
    lenient.decode(trimmed).ok()
}
