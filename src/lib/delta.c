/* delta: not written yet */
