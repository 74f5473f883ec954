/* hash: not written yet */
