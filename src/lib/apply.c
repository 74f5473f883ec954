/* apply: not written yet */
