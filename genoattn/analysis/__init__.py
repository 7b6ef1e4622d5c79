"""Support for the analysis notebooks (notebooks/*.ipynb): their size parameter, the checkpoint they analyse,
and the figure conventions a test checks. The computations the notebooks show live in the packages they concern."""
