"""Evaluating a run's --load on a list (the predictions file, the errors) and predicting images."""
import os
import sys

from webvision.runtime import tfcompat  # (before TensorFlow)
from tensorpack import logger
from tensorpack.predict import PredictConfig

from webvision.core.constants import ERROR_NAMES, INPUT, PROB
from webvision.core.fileio import check_outputs
from webvision.data.decode import decode_image
from webvision.dataflow import dataset as wd
from webvision.eval import inference
from webvision.model.run import image_decoder, make_model, session_creator
from webvision.results import probs
from webvision.weights import checkpoints as ckpt


def evaluate(run):
    """--eval: predicts every image of DATA/meta/val.txt, writes the predictions (and --save-probs)
    and prints the errors; the exit status."""
    a = run.args
    load = run.load
    path = a.predictions or '{}.{}.predictions.json'.format(load, os.path.basename(os.path.normpath(run.data)))
    meta = wd.WebVisionMeta(run.data)
    check_outputs([('--predictions', path), ('--save-probs', a.save_probs),
                   ('--save-probs (its .json)', a.save_probs and probs.sidecar_path(a.save_probs))],
                  [('--load', f) for f in ckpt.checkpoint_files(load)] + [('--data', meta.list_path('val'))])
    meta.check_complete(['val'], fmt=a.format)
    files = meta.file_list('val')
    decode = image_decoder(run, False)
    logger.info('Evaluation transform: ' + run.transform.at_size(run.args.image_size).describe())
    views = getattr(decode, 'views', 1)
    ds = wd.get_eval_dataflow(run.data, 'val', max(64 * run.towers // views, 1), decode, parallel=run.workers,
                              with_index=True, fmt=a.format)
    n, errors = inference.evaluate_list(
        make_model(run, meta.num_classes), ckpt.run_weights(run), ds, names=[files.name(i) for i in range(len(files))],
        num_classes=meta.num_classes, list_path=meta.list_path('val'), weights=load, predictions=path,
        creator=session_creator(run), towers=run.towers, views=views, save_probs=a.save_probs,
        about=dict(list=meta.list_path('val'), weights=load, tta=a.tta, transform=run.transform.kind,
                   ema=not a.no_ema and ckpt.has_average(load)))
    print('Wrote {} predictions to {}{}'.format(n, path, ' and their probabilities to ' + a.save_probs
                                               if a.save_probs else ''))
    if errors is None:
        print('All labels are 0: a test list without labels, so no errors are computed.')
        return 0
    for name in ERROR_NAMES:
        print('{} Error: {:.4f}'.format(name, errors[name]))
    return 0


def predict(run):
    """--predict IMAGE...: prints each image's top classes; exit status 1 if one could not be read."""
    tfcompat.logs_to_stderr()     # stdout is for the results
    num_classes = ckpt.read_num_classes(run.load)
    names = wd.class_names(num_classes, run.data, warn=bool(run.args.data))
    decode = image_decoder(run, False)
    logger.info('Evaluation transform: ' + run.transform.at_size(run.args.image_size).describe())
    pred = inference.inference_predictor(PredictConfig(
        model=make_model(run, num_classes), session_init=ckpt.run_weights(run),
        session_creator=session_creator(run), input_names=[INPUT], output_names=[PROB]))
    failed = 0
    for path in run.args.predict:
        im, reason = decode_image(path, decode)
        if im is None:
            print('{}: cannot predict: {}'.format(path, reason), file=sys.stderr)
            failed += 1
            continue
        prob = pred(im[None])[0][0]
        print(path)
        for c in inference.top_classes(prob, run.args.topk):
            print('{:.2f} - {!r}'.format(prob[c], names[c]))
    return 1 if failed else 0
