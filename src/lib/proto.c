/* proto: not written yet */
