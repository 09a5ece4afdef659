"""Predictions, lists and runs of the scoring tools, for their tests."""
from helpers.programs import run_program


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)
    return str(path)


def records(names, top5, labels=None):
    return [{'file': n, 'label': None if labels is None else int(l), 'top5': [int(c) for c in t],
             'prob': [0.2] * 5} for n, t, l in zip(names, top5, labels if labels is not None else [None] * len(names))]


def reference_scores(top5, labels, num_classes):
    """An independent, loop-by-loop version of the challenge metric, as the original scorer did."""
    n = len(labels)
    top1 = sum(t[0] != l for t, l in zip(top5, labels)) / n
    top5e = sum(l not in t for t, l in zip(top5, labels)) / n
    out = {'Top1': top1, 'Top5': top5e}
    for name, wrong in (('Balanced Top1', lambda t, l: t[0] != l), ('Balanced Top5', lambda t, l: l not in t)):
        rates = []
        for c in range(num_classes):
            rows = [(t, l) for t, l in zip(top5, labels) if l == c]
            if rows:
                rates.append(sum(wrong(t, l) for t, l in rows) / len(rows))
        out[name] = sum(rates) / len(rates)
    return out


def run_json2sub(pred, test_list, out, *extra):
    return run_program('json2sub', '--predictions', pred, '--test-list', test_list, '--out', out, *extra)


def run_eval_score(*args):
    return run_program('eval_score', *args)


GOOD = [('x1.jpg', [0, 1, 2, 3, 4]), ('x2.jpg', [1, 2, 3, 4, 5]), ('x3.jpg', [7, 6, 5, 4, 3])]
