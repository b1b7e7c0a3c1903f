"""What operators see: the metrics interface and its Prometheus implementation, logs, traces, ftv1."""
