"""What runs many trainings: the factorial (factorial, its settings in configs, its process pool in
workers), the sweep (sweep), the frontier (frontier), the worked examples (examples) and the speed
benchmark (bench, bench_torch)."""
