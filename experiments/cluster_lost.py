"""What a sweep raises when its Dask cluster goes away: kept apart so that the command line can
catch it without importing Dask, and the Dask executor can raise it without importing the
executor table.
"""


class ClusterLost(BaseException):
    """The Dask cluster can no longer run the sweep (scheduler gone, or no worker for a while).

    A `BaseException`, like `KeyboardInterrupt`, because it is not the failure of one run, which
    a sweep records and goes on from: it stops the sweep, keeping the runs that finished.
    """
