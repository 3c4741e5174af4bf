"""The pure core: the book's model, the planner and the views of a plan.

Owns: what a contact and a touch are (``model``), the settings block
(``settings``), what a plan is (``plan``), the errors every layer raises
(``errors``), the planner (``planner``, with ``entries``, ``queues``,
``asking`` and ``cycles``) and its slots, the stats, and the
name rules (folding, durations, did-you-mean).  Every function takes "now"
as a parameter.

Must not: import anything of warmupd outside ``core``, any third-party
library, or touch files, clocks, the network or the environment.
"""
