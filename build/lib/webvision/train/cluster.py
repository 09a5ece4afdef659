"""The machines of a multi-machine run: its flags, their addresses and this one's place among them.

Without TensorFlow (until a server is started), so that the command line checks --hosts,
--task-index and TF_CONFIG before anything heavy is loaded; webvision/train/distributed.py trains.
"""
import json
import os

COLLECTIVE_TIMEOUT = 600.       # seconds a step waits for the other workers (--collective-timeout)
JOIN_TIMEOUT_FACTOR = 6         # at the start, workers wait this many times longer for each other


def add_cluster_args(parser):
    """The multi-machine flags, as an argument group."""
    g = parser.add_argument_group('multi-machine training')
    g.add_argument('--hosts', metavar='H:P,H:P,...', help='multi-machine training: every worker process\'s address, '
                   'the chief (task 0) first; start the same command with --task-index 0..N-1, one process per GPU. '
                   'Without it, TF_CONFIG is read if set. Learning rate and steps per epoch follow the global batch')
    g.add_argument('--task-index', type=int, metavar='I', help='with --hosts: this process\'s position in the list')
    g.add_argument('--collective-timeout', type=float, default=COLLECTIVE_TIMEOUT, metavar='S', help='with --hosts: '
                   'stop when a step runs longer than this plus the longest step so far (twice this for the first) '
                   'waiting for the other workers (a machine gone without a connection reset); at the start they '
                   'wait {}x as long for each other (default: %(default)s)'.format(JOIN_TIMEOUT_FACTOR))


class ClusterError(ValueError):
    pass


class Cluster:
    def __init__(self, hosts, task_index):
        if not hosts:
            raise ClusterError('no worker addresses given')
        for h in hosts:
            host, _, port = h.rpartition(':')
            if not host or not port.isdigit():
                raise ClusterError('worker address {!r} is not HOST:PORT'.format(h))
        if not 0 <= task_index < len(hosts):
            raise ClusterError('task index {} is outside the {} workers {}'.format(task_index, len(hosts), ','.join(hosts)))
        self.hosts, self.task_index = list(hosts), task_index

    @classmethod
    def from_flags(cls, hosts, task_index, environ=os.environ):
        """--hosts h1:p,h2:p --task-index i, else TF_CONFIG; None for a single-machine run."""
        if hosts:
            if task_index is None:
                raise ClusterError('--hosts needs --task-index: this machine\'s position in the list (0 = chief)')
            return cls([h.strip() for h in hosts.split(',') if h.strip()], task_index)
        if task_index is not None:
            raise ClusterError('--task-index needs --hosts (or TF_CONFIG)')
        raw = environ.get('TF_CONFIG')
        if not raw:
            return None
        try:
            conf = json.loads(raw)
            workers, task = conf['cluster']['worker'], conf['task']
        except (ValueError, KeyError, TypeError) as e:
            raise ClusterError('TF_CONFIG: expected {{"cluster": {{"worker": [...]}}, "task": {{"type": "worker", '
                               '"index": N}}}}, got {!r} ({})'.format(raw, e)) from None
        if task.get('type') != 'worker':
            raise ClusterError('TF_CONFIG: task type {!r} is not supported; every machine is a "worker" '
                               '(collective all-reduce needs no parameter servers)'.format(task.get('type')))
        return cls(workers, int(task.get('index', 0)))

    @property
    def size(self):
        return len(self.hosts)

    @property
    def is_chief(self):
        return self.task_index == 0

    @property
    def device(self):
        return '/job:worker/replica:0/task:{}'.format(self.task_index)

    def start_server(self, config):
        """Starts this machine's server; returns (server, the session config to use with it)."""
        config.experimental.collective_group_leader = '/job:worker/replica:0/task:0'
        config.device_filters.append(self.device)      # each session sees its own devices only
        config.isolate_session_state = False
        from webvision.runtime import tfcompat  # noqa: F401  (here: the flags and their checks need no TensorFlow)
        import tensorflow as tf
        from tensorpack.utils import logger
        server = tf.compat.v1.train.Server(tf.train.ClusterSpec({'worker': self.hosts}), job_name='worker',
                                           task_index=self.task_index, config=config, start=True)
        logger.info('Worker {} of {} ({}) started; chief {}'.format(
            self.task_index, self.size, self.hosts[self.task_index], self.hosts[0]))
        return server, config
