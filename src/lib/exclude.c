/* exclude: not written yet */
