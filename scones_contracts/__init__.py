"""The contracts between the parts of the product, in one standard-library-only package.

Every part (the Lambdas, the training and serving code, the stacks, the `scones` CLI and local
runtime) imports what it shares with another part from here, so a name, a default or a schema
changes in one place. Nothing here imports anything outside the standard library: the package
is bundled as-is into every Lambda asset and into the SageMaker source directory.

Module map (module -> contract):
    classes         the model's class names, in output order
    decision        the default confidence threshold, its one validity range, the confidence rule
    events          the events on the routing bus (source, detail-types, fields) and the outcomes
    review          the human review item, its reasons and statuses, the decision, the audit sample
    metrics         the metric namespace default, metric and dimension names
    endpoint        the endpoint's variant name ("AllTraffic") and request/response content types
    capture         the SageMaker data-capture layout: keys, file names, one JSONL line
    baseline        the drift baseline (baseline.json): one class for its writer and its readers
    model_artifact  the names inside model.tar.gz and the entry points SageMaker runs
    images          the image limits (bytes, pixels, formats, payload size) and rejection reasons
    quarantine      where a refused upload and its reason record go (unique per upload, valid S3 keys)
    env             environment-variable parsing; `ConfigurationError`
    tarball         deterministic tar.gz writing; reading members of a (streamed) tarball
    source_files    the one file walk and hash ("the code changed"), the training code set
    s3_uri          s3:// URI parsing and building
    labels          the labels layout: reviewer decisions as training examples (images + list fragments)
    batch           batch reclassification: the request, the results layout, one result per object, the summary
    training_recipe the default recipe's size (width, epochs, batch, members, split), the precision
                    choices, and the optimiser step count a training's hyperparameters ask for
"""
