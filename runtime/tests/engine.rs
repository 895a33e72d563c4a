//! Behaviour of the engine as a user of the crate sees it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use loam_runtime::{actor, Engine, EngineConfig, EngineError, Job, JobError, Stage};

#[derive(Default)]
struct Counter(u64);
#[derive(Default)]
struct Log(Vec<String>);
#[derive(Default)]
struct Other;

fn engine(threads: usize) -> Engine {
    Engine::new(EngineConfig {
        threads,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn undeclared_borrow_is_an_error_naming_job_and_type() {
    let mut e = engine(2);
    e.insert_resource(Counter(0));
    e.add_job(Job::new("sneaky").run(|ctx| {
        ctx.write::<Counter>()?.0 += 1;
        Ok(())
    }));
    let err = e.step().unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("sneaky") && msg.contains("Counter"), "{msg}");
    assert_eq!(e.resource::<Counter>().unwrap().0, 0);
}

#[test]
fn reading_does_not_allow_writing() {
    let mut e = engine(1);
    e.insert_resource(Counter(0));
    e.add_job(Job::new("reader").reads::<Counter>().run(|ctx| {
        ctx.write::<Counter>()?;
        Ok(())
    }));
    assert!(matches!(
        e.step(),
        Err(EngineError::Job(JobError::Undeclared {
            mode: "writing",
            ..
        }))
    ));
}

#[test]
fn conflicting_jobs_run_in_stage_then_declared_order_on_many_threads() {
    for threads in [1, 2, 4] {
        let mut e = engine(threads);
        e.insert_resource(Log::default());
        // Added last to first: stages and edges decide, not registration.
        for stage in Stage::ALL.into_iter().rev() {
            for i in (0..3).rev() {
                let name = format!("{stage}{i}");
                let job = Job::new(name.clone()).in_stage(stage).writes::<Log>();
                let job = if i > 0 {
                    job.after(format!("{stage}{}", i - 1))
                } else {
                    job
                };
                e.add_job(job.run(move |ctx| {
                    ctx.write::<Log>()?.0.push(name.clone());
                    Ok(())
                }));
            }
        }
        e.run(3).unwrap();
        let log = &e.resource::<Log>().unwrap().0;
        let expected: Vec<String> = (0..3)
            .flat_map(|_| {
                Stage::ALL
                    .into_iter()
                    .flat_map(|s| (0..3).map(move |i| format!("{s}{i}")))
            })
            .collect();
        assert_eq!(*log, expected);
    }
}

#[test]
fn conflicting_jobs_of_one_stage_left_unordered_are_an_error_naming_both() {
    let mut e = engine(1);
    e.insert_resource(Log::default());
    e.add_job(Job::new("first").writes::<Log>());
    e.add_job(Job::new("second").reads::<Log>());
    let err = e.step().unwrap_err().to_string();
    assert!(
        err.contains("`first`") && err.contains("`second`") && err.contains("Log"),
        "{err}"
    );
}

#[test]
fn independent_jobs_overlap_on_two_threads() {
    let mut e = engine(2);
    e.insert_resource(Counter(0));
    e.insert_resource(Other);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    for (name, write_counter) in [("a", true), ("b", false)] {
        let (running, peak) = (running.clone(), peak.clone());
        let job = Job::new(name).run(move |_| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(30));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        });
        e.add_job(if write_counter {
            job.writes::<Counter>()
        } else {
            job.writes::<Other>()
        });
    }
    e.run(3).unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 2);
}

#[test]
fn every_n_frames_and_clock_advance() {
    let mut e = engine(1);
    e.insert_resource(Counter(0));
    e.add_job(Job::new("sparse").writes::<Counter>().every(4).run(|ctx| {
        ctx.write::<Counter>()?.0 += 1;
        Ok(())
    }));
    e.run(10).unwrap();
    // Frames 0, 4 and 8.
    assert_eq!(e.resource::<Counter>().unwrap().0, 3);
    assert_eq!(e.clock().frame, 10);
    assert!((e.clock().time - 10.0 / 60.0).abs() < 1e-9);
}

#[test]
fn substep_group_runs_substeps_times_with_short_dt() {
    let mut e = Engine::new(EngineConfig {
        threads: 2,
        substeps: 4,
        dt: 0.1,
        ..Default::default()
    })
    .unwrap();
    e.insert_resource(Log::default());
    e.add_job(
        Job::new("before")
            .in_stage(Stage::Forces)
            .writes::<Log>()
            .run(|ctx| {
                ctx.write::<Log>()?.0.push("before".into());
                Ok(())
            }),
    );
    for name in ["solve", "integrate"] {
        let job = Job::new(name).in_stage(Stage::Bodies);
        let job = if name == "integrate" {
            job.after("solve")
        } else {
            job
        };
        e.add_job(
            job.writes::<Log>()
                .substep_group("physics")
                .run(move |ctx| {
                    let (s, dt) = (ctx.clock().substep, ctx.dt());
                    ctx.write::<Log>()?.0.push(format!("{name}{s}:{dt:.3}"));
                    Ok(())
                }),
        );
    }
    e.add_job(Job::new("after").writes::<Log>().run(|ctx| {
        ctx.write::<Log>()?.0.push("after".into());
        Ok(())
    }));
    e.step().unwrap();
    let log = e.resource::<Log>().unwrap().0.join(" ");
    assert_eq!(
        log,
        "before solve0:0.025 integrate0:0.025 solve1:0.025 integrate1:0.025 \
         solve2:0.025 integrate2:0.025 solve3:0.025 integrate3:0.025 after"
    );
}

#[test]
fn mail_sent_between_frames_is_handled_in_the_next_frame_in_order() {
    let mut e = engine(2);
    e.insert_resource(Log::default());
    let mailbox = e.mailbox::<u32>();
    e.add_job(
        actor("inbox", 0u32, |seen: &mut u32, m: u32, ctx| {
            *seen += 1;
            ctx.write::<Log>()?.0.push(format!("{m}#{seen}"));
            Ok(())
        })
        .writes::<Log>(),
    );
    let senders: Vec<_> = (0..4)
        .map(|t| {
            let mb = mailbox.clone();
            std::thread::spawn(move || mb.send(t).unwrap())
        })
        .collect();
    senders.into_iter().for_each(|h| h.join().unwrap());
    e.step().unwrap();
    let log = e.resource::<Log>().unwrap().0.clone();
    assert_eq!(log.len(), 4);
    mailbox.send(99).unwrap();
    e.step().unwrap();
    assert_eq!(e.resource::<Log>().unwrap().0.last().unwrap(), "99#5");
}

#[test]
fn panicking_job_becomes_an_error_and_the_engine_survives() {
    let mut e = engine(2);
    let calls = Arc::new(Mutex::new(0));
    let c = calls.clone();
    e.add_job(Job::new("boom").run(move |_| {
        *c.lock().unwrap() += 1;
        panic!("kaboom")
    }));
    let err = e.step().unwrap_err().to_string();
    assert!(err.contains("boom") && err.contains("kaboom"), "{err}");
    assert!(e.step().is_err());
    assert_eq!(*calls.lock().unwrap(), 2);
}

#[test]
fn cycle_from_explicit_edges_is_reported_at_step() {
    let mut e = engine(1);
    e.add_job(Job::new("a").after("b"));
    e.add_job(Job::new("b").after("a"));
    let err = e.step().unwrap_err().to_string();
    assert!(
        err.contains("cycle") && err.contains('a') && err.contains('b'),
        "{err}"
    );
}

#[test]
fn budget_overruns_are_counted_and_budget_left_shrinks() {
    let mut e = engine(1);
    e.add_job(
        Job::new("slow")
            .budget(Duration::from_millis(1))
            .run(|ctx| {
                std::thread::sleep(Duration::from_millis(3));
                assert_eq!(ctx.budget_left(), Some(Duration::ZERO));
                Ok(())
            }),
    );
    e.run(2).unwrap();
    assert_eq!(e.job_stats()[0].over_budget, 2);
}

#[test]
fn a_name_used_twice_is_an_error_even_inside_a_substep_group() {
    let mut e = engine(1);
    e.add_job(Job::new("solve").substep_group("physics"));
    e.add_job(Job::new("solve"));
    let err = e.step().unwrap_err().to_string();
    assert!(err.contains("two jobs are named `solve`"), "{err}");
}

#[test]
fn a_substep_group_across_two_stages_is_an_error_naming_both() {
    let mut e = engine(1);
    e.add_job(
        Job::new("solve")
            .in_stage(Stage::Bodies)
            .substep_group("physics"),
    );
    e.add_job(
        Job::new("integrate")
            .in_stage(Stage::Fields)
            .substep_group("physics"),
    );
    let err = e.step().unwrap_err().to_string();
    assert!(
        err.contains("`physics`") && err.contains("`bodies`") && err.contains("`fields`"),
        "{err}"
    );
}
