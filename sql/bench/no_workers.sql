-- bench/no_workers: nobody idle any more.
DELETE FROM outbound.workers
