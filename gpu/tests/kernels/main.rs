//! Every kernel against the CPU code it mirrors.
//!
//! This file is its own test harness (libtest-mimic), so that a machine with
//! no GPU adapter reports the GPU tests as *ignored*, with the reason on
//! stderr, instead of passing them without checking anything. With
//! `LOAM_REQUIRE_GPU` set (CI sets it, with Mesa's lavapipe installed) a
//! missing adapter fails every GPU test instead.

use std::process::ExitCode;

use libtest_mimic::{Arguments, Trial};
use loam_gpu::{shaders, FieldDiffusion, GpuContext, REQUIRE_GPU};
use loam_systems::fields::{diffuse_bricks, BRICK_CELLS};

mod ca;
mod fields;
mod page_use;
mod phase;
mod random;
mod xpbd;

use ca::*;
use fields::*;
use page_use::*;
use phase::*;
use random::*;
use xpbd::*;

/// The device. Only GPU tests call it, and they run only where the probe in
/// `main` found an adapter or `LOAM_REQUIRE_GPU` is set.
fn gpu() -> GpuContext {
    match GpuContext::new() {
        Ok(gpu) => {
            eprintln!(
                "GPU adapter: {} ({:?})",
                gpu.adapter_name(),
                gpu.device_type()
            );
            gpu
        }
        Err(e) => panic!("no GPU adapter: {e} ({REQUIRE_GPU} is set, or --include-ignored asked)"),
    }
}

/// The tests that need no GPU, and those that do.
fn main() -> ExitCode {
    let args = Arguments::from_args();
    let probe = GpuContext::new();
    let missing = probe.as_ref().err();
    let required = std::env::var_os(REQUIRE_GPU).is_some();
    let ignore = match &missing {
        Some(e) if !required => {
            eprintln!(
                "GPU tests ignored: no GPU adapter ({e}). Install a Vulkan driver (on Debian \
                 without a GPU: mesa-vulkan-drivers) and set {REQUIRE_GPU}=1 to make a missing \
                 adapter a failure."
            );
            true
        }
        _ => false,
    };
    let on_gpu = |name: &str, test: fn()| {
        Trial::test(name, move || {
            test();
            Ok(())
        })
        .with_ignored_flag(ignore)
    };
    let mut trials = vec![Trial::test(
        "every_shader_parses_and_validates_with_naga",
        || {
            every_shader_parses_and_validates_with_naga();
            Ok(())
        },
    )];
    #[cfg(feature = "tracy")]
    {
        // Tracy's GPU zones need timestamps inside encoders.
        let timestamps = probe.as_ref().is_ok_and(|gpu| {
            gpu.device
                .features()
                .contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_ENCODERS)
        });
        if missing.is_none() && !timestamps {
            eprintln!(
                "Tracy GPU zone test ignored: the adapter cannot write timestamps in encoders"
            );
        }
        trials.push(
            on_gpu(
                "with_tracy_running_kernels_send_gpu_zones",
                with_tracy_running_kernels_send_gpu_zones,
            )
            .with_ignored_flag(ignore || missing.is_none() && !timestamps),
        );
    }
    trials.extend([
        on_gpu("field_diffusion_matches_the_cpu_within_1e_5", field_diffusion_matches_the_cpu_within_1e_5),
        on_gpu("field_decay_matches_the_cpu_bit_for_bit_and_frees_the_same_bricks", field_decay_matches_the_cpu_bit_for_bit_and_frees_the_same_bricks),
        on_gpu("the_fields_step_on_the_gpu_matches_the_cpus_within_1e_5", the_fields_step_on_the_gpu_matches_the_cpus_within_1e_5),
        on_gpu("the_fields_mirror_steps_as_the_cpu_and_is_sent_only_what_the_cpu_wrote", the_fields_mirror_steps_as_the_cpu_and_is_sent_only_what_the_cpu_wrote),
        on_gpu("the_world_mirror_sends_each_page_once_and_again_when_it_changes", the_world_mirror_sends_each_page_once_and_again_when_it_changes),
        on_gpu("soft_body_substeps_match_the_cpu_within_1e_4_cells", soft_body_substeps_match_the_cpu_within_1e_4_cells),
        on_gpu("soft_bodies_of_every_solver_in_contact_wind_water_sand_and_sleep_match_the_cpu", soft_bodies_of_every_solver_in_contact_wind_water_sand_and_sleep_match_the_cpu),
        on_gpu("a_row_of_cubes_landing_on_a_plank_touches_more_bodies_than_a_list_holds_and_matches_the_cpu", a_row_of_cubes_landing_on_a_plank_touches_more_bodies_than_a_list_holds_and_matches_the_cpu),
        on_gpu("a_stack_of_three_solvers_rests_and_sleeps_as_on_the_cpu", a_stack_of_three_solvers_rests_and_sleeps_as_on_the_cpu),
        on_gpu("a_torn_gram_schmidt_body_presses_with_its_particles_as_on_the_cpu", a_torn_gram_schmidt_body_presses_with_its_particles_as_on_the_cpu),
        on_gpu("page_use_counts_resident_pages_asks_for_absent_ones_once_and_reads_back_later", page_use_counts_resident_pages_asks_for_absent_ones_once_and_reads_back_later),
        on_gpu("page_use_requests_beyond_capacity_are_dropped_and_counted", page_use_requests_beyond_capacity_are_dropped_and_counted),
        on_gpu("a_soft_body_stops_on_pages_that_are_not_resident_and_asks_for_them", a_soft_body_stops_on_pages_that_are_not_resident_and_asks_for_them),
        on_gpu("random_numbers_on_the_gpu_are_the_cpus_bit_for_bit", random_numbers_on_the_gpu_are_the_cpus_bit_for_bit),
        on_gpu("automaton_movement_matches_the_cpu_bit_for_bit_over_200_frames", automaton_movement_matches_the_cpu_bit_for_bit_over_200_frames),
        on_gpu("automaton_on_the_cpus_schedule_wakes_the_same_pages_and_ends_in_the_same_world", automaton_on_the_cpus_schedule_wakes_the_same_pages_and_ends_in_the_same_world),
        on_gpu("automaton_with_reactions_and_heat_matches_the_cpu_bit_for_bit_on_its_schedule", automaton_with_reactions_and_heat_matches_the_cpu_bit_for_bit_on_its_schedule),
        on_gpu("phase_pass_matches_the_cpu_where_every_draw_is_clear", phase_pass_matches_the_cpu_where_every_draw_is_clear),
        on_gpu("phase_pass_near_the_boiling_point_agrees_with_the_cpu_statistically", phase_pass_near_the_boiling_point_agrees_with_the_cpu_statistically),
        on_gpu("phase_changes_held_part_way_agree_with_the_cpu", phase_changes_held_part_way_agree_with_the_cpu),
        on_gpu("automaton_matches_the_cpu_at_every_page_size", automaton_matches_the_cpu_at_every_page_size),
        on_gpu("automaton_with_a_scenario_s_own_materials_and_reactions_matches_the_cpu_bit_for_bit", automaton_with_a_scenario_s_own_materials_and_reactions_matches_the_cpu_bit_for_bit),
        on_gpu("the_phase_pass_asks_for_the_absent_pages_its_columns_reach_as_the_cpu_does", the_phase_pass_asks_for_the_absent_pages_its_columns_reach_as_the_cpu_does),
    ]);
    // Each test makes its own device.
    drop(probe);
    libtest_mimic::run(&args, trials).exit_code()
}

fn every_shader_parses_and_validates_with_naga() {
    for (name, source) in shaders::all() {
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    }
}
