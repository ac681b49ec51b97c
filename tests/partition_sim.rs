//! Healing after a long partition, on virtual time, in the deterministic
//! simulator. `HEARSAY_SIM_SEED=S` replays one seed; `HEARSAY_SIM_SEEDS=N`
//! sweeps N.

use std::time::Duration;

use hearsay::sim::{run_scenario, seeds_from_env, Outcome, Scenario, ScenarioOptions};
use hearsay::swim::Profile;

fn replay(test: &str, seed: u64) -> String {
    format!("replay with: HEARSAY_SIM_SEED={seed} cargo test --test partition_sim {test}")
}

/// When the split heals, every reconnecting node merges the other side's
/// death verdicts about its own side. Those verdicts are hearsay: counted
/// as independent confirmations, they would shrink every suspicion to its
/// minimum within a second, and nodes the refutation reached late would
/// declare live nodes dead (15 to 27 per seed at these settings, 476 at
/// 1,000 nodes with the defaults). Shorter timeouts make the race show at
/// 300 nodes.
#[test]
fn the_other_sides_verdicts_cause_no_false_deaths_when_a_partition_heals() {
    for seed in seeds_from_env(1) {
        let why = replay("the_other_sides_verdicts", seed);
        let mut options = ScenarioOptions::new(Scenario::Partition, 300, Profile::Lan, seed);
        options.config.swim.probe_interval = Duration::from_millis(500);
        options.config.swim.probe_timeout = Duration::from_millis(250);
        options.config.swim.suspicion_mult = 3;
        let report = run_scenario(&options);
        let Outcome::Partition {
            detected,
            cross_pairs,
            remerge_s,
            false_positives_after_heal,
            ..
        } = report.outcome
        else {
            panic!("not a partition outcome");
        };
        println!(
            "seed {seed}: {detected} of {cross_pairs} cross pairs declared dead, \
             re-merged {remerge_s} s after the heal, {false_positives_after_heal} false deaths"
        );
        assert_eq!(detected, cross_pairs, "the split was detected; {why}");
        assert!(remerge_s >= 0.0, "the views never came right; {why}");
        // A node that misses a refutation's gossip altogether can still let
        // a suspicion run out: at most an isolated case, never a wave.
        assert!(
            false_positives_after_heal <= 1,
            "{false_positives_after_heal} live nodes declared dead after the heal; {why}"
        );
    }
}
