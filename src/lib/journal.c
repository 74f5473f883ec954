/* journal: not written yet */
