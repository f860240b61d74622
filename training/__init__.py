"""Bicycle-vs-motorcycle classifier: training, packaging, serving and evaluation (PyTorch, CPU-friendly).

Module map (small modules; import what you need, nothing heavy happens on `import training`):
    constants    input size, normalisation, sample-data path (class names and the threshold are
                 contracts: scones_contracts.classes / .decision)
    imaging      bytes -> (scones_imaging: checked, upright RGB) -> 32x32 -> normalised tensor
                 (shared by training and serving)
    dataset      .lst + image folder -> LabeledImages; stratified validation split
    etl          CIFAR-100 python archive -> PNGs + train.lst/test.lst
    augment      pad-crop, flip, cutout, CutMix as seeded torch ops
    model        ResNet-9, Ensemble, CalibratedClassifier (flip TTA + temperature)
    calibration  temperature scaling by NLL minimisation
    precision    device and precision from the hardware's real capability (bf16 only where native)
    trainer      the training loop (deterministic for seed + threads + precision); TrainStep
    pipeline     train -> calibrate -> metadata/baseline -> artifact (scones train and train.py)
    artifact     model.tar.gz writer and readers (tarball, names and baseline from scones_contracts)
    fingerprint  data/code sha256 and model_version (the code hash is scones_contracts.source_files')
    serve        SageMaker handlers model_fn/input_fn/predict_fn/output_fn + error classes
    metrics      accuracy, coverage, selective accuracy, ECE, confusion, NLL
    plots        confusion matrix, reliability diagram, confidence histogram (matplotlib Agg)
    evaluate     metrics of an artifact on a labelled folder through the serving handlers
    bench        run_model_bench: training time (wall and CPU), quality, latency and throughput
    recipe_bench cross-validated comparison of training recipes (never on the demo's held-out images)
    throughput   training step time per CPU instruction set (the stack's synth-time runtime check reads it)
    cli          scones train / evaluate / bench-model / bench-recipes / bench-training / etl
    train        SageMaker script-mode entry point (python train.py --epochs ...)
"""
