"""Evaluation of protection: the measuring instrument behind ``p3mask evaluate`` and ``p3mask unlock``.

Modules, each with one job:

* :mod:`.metrics` - PSR maths on embeddings (identification top-k, verification, re-thresholding);
* :mod:`.quality` - SSIM/PSNR of protected photos on the face region and the whole photo;
* :mod:`.transforms` - a scraper's transforms (JPEG, downscaling, blur, median), a registry;
* :mod:`.adaptive` - adaptive adversaries (mask estimation, budget-tuned purification);
* :mod:`.register` and :mod:`.unlock` - removing a mask with its key;
* :mod:`.gallery` - the cached clean gallery of a dataset; :mod:`.probes` - embedding probe photos;
* :mod:`.users`, :mod:`.conditions`, :mod:`.scoring` and :mod:`.runner` - the evaluation itself;
* :mod:`.report` - report.json, report.md and plots.
"""
