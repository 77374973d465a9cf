"""Object storage (Amazon S3 or any S3-compatible store) through boto3.

``client`` makes the connection from the ``publish.*`` settings, ``listing``
reads what a bucket holds, ``mirror`` makes a bucket an exact copy of
``output/``, ``prefixes`` writes the index of several boxes' sites,
``offsite`` backs a box up into a bucket and ``restorebox`` brings it back.
Credentials are the AWS SDK's own business (environment, shared files,
instance role); nothing here reads or stores them.
"""
