"""What is written about the trainings: factorial.md and its figure (factorial_report), frontier.md
(frontier_report), docs/results.md and the README's results block (results_page), and the
paired-seed statistics they share (stats)."""
